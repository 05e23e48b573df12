#include "source.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace sl {

Source::~Source() {
  if (fd_ >= 0) ::close(fd_);
}

void Source::openFile(const std::string& path, uint64_t offset, uint64_t length) {
  path_ = path;
  offset_ = offset;
  length_ = length;
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  fd_ = fd;
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error("cannot stat '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error("cannot read '" + path + "': it is a directory");
  if (S_ISREG(st.st_mode) && uint64_t(st.st_size) < offset + length) {
    throw Error("'" + path + "' has " + std::to_string(uint64_t(st.st_size)) + " bytes, but the tensor needs bytes " +
                std::to_string(offset) + ".." + std::to_string(offset + length));
  }
#ifdef POSIX_FADV_SEQUENTIAL
  if (length > 0) ::posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_SEQUENTIAL);
#endif
}

void Source::useMemory(const uint8_t* data, uint64_t length) {
  static const uint8_t empty = 0;
  mem_ = data ? data : &empty;
  length_ = length;
}

const uint8_t* Source::bytes(uint64_t b0, size_t len, uint8_t* buf) const {
  if (b0 + len > length_) throw Error("internal error: read past the tensor's end");
  if (mem_) return mem_ + b0;
  size_t done = 0;
  while (done < len) {
    const ssize_t r = ::pread(fd_, buf + done, len - done, off_t(offset_ + b0 + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("reading '" + path_ + "' at byte " + std::to_string(offset_ + b0 + done) + " failed: " +
                  std::strerror(errno));
    }
    if (r == 0) {
      throw Error("'" + path_ + "' ended at byte " + std::to_string(offset_ + b0 + done) + ", before the tensor's end at byte " +
                  std::to_string(offset_ + length_));
    }
    done += size_t(r);
  }
  return buf;
}

SegmentReader::SegmentReader(const Source& src, const TensorGeom& geom, size_t bufferBytes) : src_(src), geom_(geom) {
  maxElems_ = std::max<size_t>(2, bufferBytes * 8 / size_t(geom.bits));
  maxElems_ -= maxElems_ % 2;
  // No larger than the tensor: a model of many small tensors must not allocate (and clear) a
  // full read buffer for each.
  const uint64_t bufferElems = std::min<uint64_t>(maxElems_, geom.numel + (geom.numel % 2));
  if (!src.isMemory()) buf_.resize(size_t(geom.bytesOf(0, bufferElems)) + 1);
}

void SegmentReader::readRange(uint64_t e0, uint64_t e1, const PieceFn& onPiece) {
  read(1, [&](size_t) { return Segment{e0, e1 - e0}; }, onPiece);
}

void SegmentReader::read(size_t nSegments, const std::function<Segment(size_t)>& segment, const PieceFn& onPiece) {
  const uint64_t minGapBytes = 16384;
  std::vector<std::pair<size_t, Segment>> group;
  size_t i = 0;
  Segment pending{0, 0};
  bool havePending = false;
  while (i < nSegments || havePending) {
    Segment s;
    size_t si;
    if (havePending) {
      s = pending;
      si = i - 1;
      havePending = false;
    } else {
      si = i;
      s = segment(i++);
    }
    if (s.count == 0) continue;
    if (src_.isMemory() || s.count > maxElems_) {
      // Memory needs no reads; a long segment is read piece by piece.
      for (uint64_t off = 0; off < s.count; off += maxElems_) {
        const uint64_t e = s.start + off;
        const size_t n = size_t(std::min<uint64_t>(maxElems_, s.count - off));
        const uint64_t b0 = geom_.byteOf(e);
        const uint8_t* p = src_.bytes(b0, size_t(geom_.bytesOf(e, e + n)), buf_.data());
        onPiece(si, off, p, geom_.parityOf(e), n);
      }
      continue;
    }
    // Gather the following segments that fit in the same read.
    group.clear();
    group.push_back({si, s});
    const uint64_t first = s.start;
    uint64_t end = s.start + s.count;
    while (i < nSegments) {
      const Segment t = segment(i++);
      if (t.count == 0) continue;
      const uint64_t gapBytes = geom_.bytesOf(end, t.start);
      const bool fits = t.start >= end && t.start + t.count - first <= maxElems_ &&
                        gapBytes <= std::max(minGapBytes, geom_.bytesOf(t.start, t.start + t.count));
      if (!fits) {
        pending = t;
        havePending = true;
        break;
      }
      group.push_back({i - 1, t});
      end = t.start + t.count;
    }
    const uint64_t b0 = geom_.byteOf(first);
    const uint8_t* p = src_.bytes(b0, size_t(geom_.bytesOf(first, end)), buf_.data());
    for (const auto& g : group) {
      const uint64_t e = g.second.start;
      onPiece(g.first, 0, p + (geom_.byteOf(e) - b0), geom_.parityOf(e), size_t(g.second.count));
    }
  }
}

}  // namespace sl
