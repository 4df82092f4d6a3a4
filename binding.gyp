{
  "targets": [
    {
      "target_name": "palisade_capture",
      "sources": ["native/capture.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpcap", "-lpthread"]
    }
  ]
}
