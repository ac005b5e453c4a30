// libtorch's CPU allocator with large blocks kept for reuse. A training step allocates and frees
// the same large buffers (activations, logits chunks, gradients) every time; fresh memory costs a
// page fault per 4 KB on first touch, which can outweigh the arithmetic an elementwise op does on
// it — and on machines that reclaim freed memory eagerly (free page reporting, proactive reclaim)
// each fault costs several times more. Keeping freed memory in glibc's heap (M_MMAP_MAX = 0) is
// not enough under Node: every tensor handle leaves small records (N-API finalizer bookkeeping) in
// the heap until V8 collects them, and those pin the space between large blocks, so most large
// requests grow the heap with fresh pages.
//
// Requests of 1 MiB and more are therefore served here, from segments mapped directly, as
// libtorch's CUDA caching allocator does on the device: a request takes the smallest free block
// that holds it, split when the rest is 1 MiB or more; a freed block merges with free neighbours
// of its segment. A step's phases need buffers of different sizes (the LM-head chunks' logits,
// then the layers' gradients, then activations), and splitting lets each phase reuse what the
// previous one freed, whatever the sizes: once warm, a step maps no fresh memory. (The earlier
// cache kept whole blocks for requests of up to half their size; a step of Qwen3-4B → 0.6B still
// touched ~0.8 GB fresh.)
//
// A segment is mapped only when no free block holds the request. Before mapping, wholly free
// segments are unmapped, oldest first, until mapped memory and the new segment together stay
// within the peak of live block memory seen so far (or live + 256 MiB): resident memory then stays
// near what the program itself once needed. (A rule that kept up to the peak cached on top of live
// memory had a 4B → 0.6B run OOM-killed at twice its real peak.) Off
// (DISTILLERY_ALLOCATOR_CACHING=0), each request gets a segment of its own, unmapped when freed, and
// resident memory follows live memory. Smaller requests go to the default allocator. CUDA memory
// is untouched (libtorch's own caching allocator handles it).
#include "handles.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <torch/version.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <mutex>
#include <unordered_map>
#include <utility>

// libtorch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define DISTILLERY_ALLOCATE_CONST
#define DISTILLERY_COPY_DATA \
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#else
#define DISTILLERY_ALLOCATE_CONST const
#define DISTILLERY_COPY_DATA
#endif

namespace distillery {
namespace {

constexpr size_t kMinBlock = size_t{1} << 20;
constexpr size_t kPage = 4096;
constexpr size_t kMinCacheLimit = size_t{256} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

// A piece of a segment: in use or free. Pieces of a segment are linked in address order, so a
// freed piece can merge with its free neighbours.
struct Piece {
  char* data;
  size_t size;
  size_t segment;  // the segment's number (segments are numbered in mapping order: oldest first)
  bool free = false;
  size_t requested = 0;  // while in use: the request's size, page-rounded (what live memory counts)
  Piece* prev = nullptr;
  Piece* next = nullptr;
};

// Free pieces ordered by size, then address: the smallest that holds a request is a lower_bound.
struct BySize {
  bool operator()(const Piece* a, const Piece* b) const { return a->size != b->size ? a->size < b->size : a->data < b->data; }
};

class CpuBlockCache final : public c10::Allocator {
 public:
  explicit CpuBlockCache(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t bytes) DISTILLERY_ALLOCATE_CONST override {
    if (bytes < kMinBlock) return fallback_->allocate(bytes);
    void* data = take((bytes + kPage - 1) / kPage * kPage);
    return {data, data, &CpuBlockCache::release, c10::Device(c10::DeviceType::CPU)};
  }

  // Data and context are the same pointer, so raw_allocate()/raw_deallocate() (used by oneDNN
  // paths) work too.
  c10::DeleterFnPtr raw_deleter() const override { return &CpuBlockCache::release; }

  DISTILLERY_COPY_DATA

  CpuBlockStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {liveBytes_, peakLiveBytes_, mappedBytes_ - liveBytes_, windowPeakBytes_, totalMappedBytes_};
  }

  // Starts a new measurement window for windowPeakBytes (the cache's trimming keeps its own peak).
  void resetWindowPeak() {
    std::lock_guard<std::mutex> lock(mutex_);
    windowPeakBytes_ = liveBytes_;
  }

  void setEnabled(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    enabled_ = on;
    if (!on) unmapFreeSegmentsUntil(0);
  }

 private:
  void* take(size_t size) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (enabled_) {
      Piece probe{nullptr, size, 0};
      auto found = free_.lower_bound(&probe);
      if (found != free_.end()) {
        Piece* piece = *found;
        free_.erase(found);
        splitOff(piece, size);
        return use(piece, size);
      }
      // A miss: make room first, so that mapped memory and this segment stay within the peak of
      // live memory (at least 256 MiB beyond live memory may stay mapped).
      const size_t needed = liveBytes_ + size;
      unmapFreeSegmentsUntil(std::max(needed + kMinCacheLimit, peakLiveBytes_) - size);
    }
    const size_t segmentSize = enabled_ ? (size + kHugePage - 1) / kHugePage * kHugePage : size;
    auto* piece = new Piece{mapSegment(segmentSize), segmentSize, nextSegment_++};
    mappedBytes_ += segmentSize;
    totalMappedBytes_ += segmentSize;
    segments_.emplace(piece->segment, piece);
    splitOff(piece, size);
    return use(piece, size);
  }

  // A fresh mapping of `size` bytes; whole multiples of 2 MiB start on a 2 MiB boundary and are
  // offered to the kernel for transparent huge pages (where THP is "madvise", as on Debian): a
  // first touch then faults 2 MiB at a time instead of 4 KiB, and the large matrix products walk
  // far fewer page-table entries.
  static char* mapSegment(size_t size) {
    const bool huge = size % kHugePage == 0;
    const size_t span = huge ? size + kHugePage : size;
    void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(mapped != MAP_FAILED, "CPU allocator: out of memory allocating ", size, " bytes");
    char* data = static_cast<char*>(mapped);
    if (!huge) return data;
    const uintptr_t address = reinterpret_cast<uintptr_t>(data);
    char* aligned = data + ((kHugePage - address % kHugePage) % kHugePage);
    if (aligned > data) munmap(data, aligned - data);
    if (aligned + size < data + span) munmap(aligned + size, data + span - (aligned + size));
    madvise(aligned, size, MADV_HUGEPAGE);
    return aligned;
  }

  // Leaves `size` bytes in `piece`; a rest of 1 MiB or more becomes a free piece of its own.
  void splitOff(Piece* piece, size_t size) const {
    if (piece->size - size < kMinBlock) return;
    auto* rest = new Piece{piece->data + size, piece->size - size, piece->segment, true};
    rest->prev = piece;
    rest->next = piece->next;
    if (piece->next) piece->next->prev = rest;
    piece->next = rest;
    piece->size = size;
    free_.insert(rest);
  }

  void* use(Piece* piece, size_t requested) const {
    piece->free = false;
    piece->requested = requested;
    live_.emplace(piece->data, piece);
    liveBytes_ += requested;
    peakLiveBytes_ = std::max(peakLiveBytes_, liveBytes_);
    windowPeakBytes_ = std::max(windowPeakBytes_, liveBytes_);
    return piece->data;
  }

  static void release(void* data) { instance()->giveBack(data); }

  void giveBack(void* data) const {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = live_.find(data);
    if (it == live_.end()) {
      // A small block of the default allocator, freed through raw_deallocate(), which calls our raw_deleter.
      lock.unlock();
      fallback_->raw_deleter()(data);
      return;
    }
    Piece* piece = it->second;
    live_.erase(it);
    liveBytes_ -= piece->requested;
    piece->free = true;
    piece->requested = 0;
    // Merge with free neighbours: the segment's free space stays in as few pieces as possible.
    if (piece->next && piece->next->free) absorbNext(piece);
    if (piece->prev && piece->prev->free) {
      Piece* prev = piece->prev;
      free_.erase(prev);
      absorbNext(prev);
      piece = prev;
    }
    if (!enabled_ && !piece->prev && !piece->next) {
      unmapSegment(piece);
      return;
    }
    free_.insert(piece);
  }

  // `piece` takes over its free successor (which leaves the free set).
  void absorbNext(Piece* piece) const {
    Piece* next = piece->next;
    free_.erase(next);
    piece->size += next->size;
    piece->next = next->next;
    if (next->next) next->next->prev = piece;
    delete next;
  }

  // Unmaps wholly free segments, oldest first, until at most `limit` bytes are mapped (or none is
  // left to unmap). Mutex held.
  void unmapFreeSegmentsUntil(size_t limit) const {
    for (auto it = segments_.begin(); it != segments_.end() && mappedBytes_ > limit;) {
      Piece* first = it->second;
      ++it;
      if (first->free && !first->next) {
        free_.erase(first);
        unmapSegment(first);
      }
    }
  }

  // Unmaps the segment that `whole` (a free piece spanning it) covers.
  void unmapSegment(Piece* whole) const {
    munmap(whole->data, whole->size);
    mappedBytes_ -= whole->size;
    segments_.erase(whole->segment);
    delete whole;
  }

  c10::Allocator* fallback_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, Piece*> live_;
  mutable std::set<Piece*, BySize> free_;
  mutable std::map<size_t, Piece*> segments_;  // each segment's first piece, by segment number
  mutable size_t nextSegment_ = 0;
  mutable size_t mappedBytes_ = 0;
  mutable size_t totalMappedBytes_ = 0;
  mutable size_t liveBytes_ = 0;
  mutable size_t peakLiveBytes_ = 0;
  mutable size_t windowPeakBytes_ = 0;
  bool enabled_ = true;

 public:
  // Never destroyed: tensors may be freed during static destruction at exit.
  static CpuBlockCache* instance() {
    static CpuBlockCache* cache = [] {
      auto* created = new CpuBlockCache(c10::GetDefaultCPUAllocator());
      c10::SetAllocator(c10::DeviceType::CPU, created, /*priority=*/1);
      return created;
    }();
    return cache;
  }
};

}  // namespace

void setCpuBlockCaching(bool on) { CpuBlockCache::instance()->setEnabled(on); }
CpuBlockStats cpuBlockStats() { return CpuBlockCache::instance()->stats(); }
void resetCpuBlockPeak() { CpuBlockCache::instance()->resetWindowPeak(); }

}  // namespace distillery
