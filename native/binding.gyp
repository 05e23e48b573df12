{
  "targets": [
    {
      "target_name": "sparsity_lens_native",
      "sources": [
                "src/dtype.cc",
        "src/geometry.cc",
        "src/source.cc",
        "src/pool.cc",
        "src/scan.cc",
        "src/classify.cc",
        "src/layout_walker.cc",
        "src/masks.cc",
        "src/heatmap.cc",
        "src/forward.cc",
        "src/condense.cc",
        "src/weight_window.cc",
        "src/train/op.cc",
        "src/train/sparse_layout.cc",
        "src/train/gemm.cc",
        "src/train/linear.cc",
        "src/train/conv.cc",
        "src/train/pooling.cc",
        "src/train/elementwise.cc",
        "src/train/shape_ops.cc",
        "src/train/batchnorm.cc",
        "src/train/loss.cc",
        "src/train/optimizer.cc",
        "src/train/session.cc",
        "src/train/srigl_update.cc",
        "src/binding/args.cc",
        "src/binding/scan_binding.cc",
        "src/binding/mask_binding.cc",
        "src/binding/condensed_binding.cc",
        "src/binding/train_binding.cc",
        "src/binding/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-march=native", "-fexceptions", "-ffp-contract=off", "-fno-math-errno"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fexceptions", "-frtti", "-ffp-contract=off", "-fno-math-errno"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["-O3", "-march=native", "-ffp-contract=off"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
      }
    }
  ]
}
