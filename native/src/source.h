// Where a tensor's bytes are: a file range (read with pread, in bounded chunks) or memory.
#pragma once

#include <functional>
#include <string>

#include "error.h"
#include "geometry.h"

namespace sl {

/** Bytes of one read buffer per thread: memory stays bounded whatever the tensor's size. */
constexpr size_t kReadBufferBytes = size_t(4) << 20;

class Source {
 public:
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  ~Source();

  /** A file range; throws sl::Error naming the path when it cannot be opened or is too short. */
  void openFile(const std::string& path, uint64_t offset, uint64_t length);
  void useMemory(const uint8_t* data, uint64_t length);

  bool isMemory() const { return mem_ != nullptr || fd_ < 0; }
  uint64_t length() const { return length_; }

  /**
   * Bytes [b0, b0 + len) of the tensor: a pointer into memory, or read into `buf` (which must hold
   * len bytes). Thread-safe.
   */
  const uint8_t* bytes(uint64_t b0, size_t len, uint8_t* buf) const;

 private:
  const uint8_t* mem_ = nullptr;
  int fd_ = -1;
  std::string path_;
  uint64_t offset_ = 0;
  uint64_t length_ = 0;
};

/** A run of consecutive elements [start, start + count). */
struct Segment {
  uint64_t start;
  uint64_t count;
};

/**
 * Reads segments (ascending, non-overlapping) with few reads: close segments share one read,
 * long ones are split. Calls onPiece(segmentIndex, offsetInSegment, ptr, parity, count) for each
 * piece, in order; ptr addresses the piece's first element (float4: nibble `parity` of ptr[0]).
 */
class SegmentReader {
 public:
  SegmentReader(const Source& src, const TensorGeom& geom, size_t bufferBytes = kReadBufferBytes);

  using PieceFn = std::function<void(size_t seg, uint64_t offset, const uint8_t* p, size_t parity, size_t count)>;
  void read(size_t nSegments, const std::function<Segment(size_t)>& segment, const PieceFn& onPiece);
  /** Elements [e0, e1) in pieces of at most a buffer. */
  void readRange(uint64_t e0, uint64_t e1, const PieceFn& onPiece);

 private:
  const Source& src_;
  const TensorGeom& geom_;
  std::vector<uint8_t> buf_;
  size_t maxElems_;  // elements per read
};

}  // namespace sl
