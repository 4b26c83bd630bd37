// Numeric constants of the normalization layers: one place, referenced everywhere.

/** Weight Standardization: (w - mean) / sqrt(var + WS_EPS), biased variance per output channel (BiT's StdConv2d). */
export const WS_EPS = 1e-10;
/** GroupNorm epsilon (torch.nn.GroupNorm default, used by BiT). */
export const GN_EPS = 1e-5;
/** GroupNorm groups in BiT (Wu & He's default). */
export const GN_GROUPS = 32;
/** BatchNorm epsilon and running-statistics momentum (torch.nn.BatchNorm2d defaults). */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;
