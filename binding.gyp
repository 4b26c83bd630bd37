{
  "targets": [
    {
      "target_name": "bit_native",
      "sources": ["native/src/addon.cc", "native/src/ops.cc", "native/src/inference.cc", "native/src/dist.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/find-libtorch.cjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "<!@(node native/find-libtorch.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O2", "-fopenmp", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["<!@(node native/find-libtorch.cjs libs)"],
      "ldflags": ["-fopenmp", "<!@(node native/find-libtorch.cjs ldflags)"]
    }
  ]
}
