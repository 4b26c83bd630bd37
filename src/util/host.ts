// The machine a measurement ran on, as benchmarks and experiments record it.
import * as os from 'node:os';

export interface HostInfo {
  cpu: string;
  /** Cores this process may use. */
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

export function hostInfo(): HostInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
  };
}
