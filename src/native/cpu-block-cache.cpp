// libtorch's CPU allocator with large blocks kept for reuse. A training step allocates and frees
// the same large buffers (activations, logits chunks, gradients) every time; fresh memory costs a
// page fault per 4 KB on first touch, which can outweigh the arithmetic an elementwise op does on
// it. Keeping freed memory in glibc's heap (M_MMAP_MAX = 0) is not enough under Node: every tensor
// handle leaves small records (N-API finalizer bookkeeping) in the heap until V8 collects them, and
// those pin the space between large blocks, so most large requests grow the heap with fresh pages.
// Blocks of 1 MiB and more are therefore mapped here directly and, when freed, kept in a list; a
// request takes the smallest cached block that holds it, up to twice its size (a step's mix of
// sizes then needs almost no fresh pages once warm: the README's Performance notes give the page
// faults a step with and without it). Before mapping a new block the cache drops its oldest blocks
// until live, cached and new memory together stay within the peak of live block memory seen so far
// (or within live + 256 MiB): resident memory then never exceeds what the program itself once
// needed. (An earlier rule kept up to the peak in the cache on top of live memory: after a step's
// activations were freed, the optimizer's first state was mapped beside them, and a 4B → 0.6B run
// was OOM-killed at twice its real peak.) Off (DISTILLERY_ALLOCATOR_CACHING=0), freed blocks are
// unmapped at once and resident memory follows live memory. Smaller requests go to the default
// allocator. CUDA memory is untouched (libtorch's own caching allocator handles it).
#include "handles.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <torch/version.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <list>
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
    return {liveBytes_, peakLiveBytes_, cachedBytes_, windowPeakBytes_};
  }

  // Starts a new measurement window for windowPeakBytes (the cache's trimming keeps its own peak).
  void resetWindowPeak() {
    std::lock_guard<std::mutex> lock(mutex_);
    windowPeakBytes_ = liveBytes_;
  }

  void setEnabled(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    enabled_ = on;
    if (!on) trimTo(0);
  }

 private:
  using Block = std::pair<void*, size_t>;  // mapping and its size

  void* take(size_t size) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto best = cached_.end();
      for (auto it = cached_.begin(); it != cached_.end(); ++it) {
        if (it->second >= size && it->second <= 2 * size && (best == cached_.end() || it->second < best->second)) best = it;
      }
      if (best != cached_.end()) {
        Block block = *best;
        cached_.erase(best);
        cachedBytes_ -= block.second;
        addLive(block);
        return block.first;
      }
    }
    {
      // A miss: make room first, so that live + cached + this block stay within the peak of live
      // memory (at least 256 MiB may stay cached).
      std::lock_guard<std::mutex> lock(mutex_);
      const size_t needed = liveBytes_ + size;
      trimTo(std::max(kMinCacheLimit, peakLiveBytes_ > needed ? peakLiveBytes_ - needed : 0));
    }
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(data != MAP_FAILED, "CPU allocator: out of memory allocating ", size, " bytes");
    std::lock_guard<std::mutex> lock(mutex_);
    addLive({data, size});
    return data;
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
    const Block block = *it;
    live_.erase(it);
    liveBytes_ -= block.second;
    if (!enabled_) {
      munmap(block.first, block.second);
      return;
    }
    cached_.push_back(block);
    cachedBytes_ += block.second;
  }

  // Unmaps the oldest cached blocks until at most `limit` bytes are cached (mutex held).
  void trimTo(size_t limit) const {
    while (cachedBytes_ > limit && !cached_.empty()) {
      const Block block = cached_.front();
      cached_.pop_front();
      cachedBytes_ -= block.second;
      munmap(block.first, block.second);
    }
  }

  void addLive(const Block& block) const {
    live_.insert(block);
    liveBytes_ += block.second;
    peakLiveBytes_ = std::max(peakLiveBytes_, liveBytes_);
    windowPeakBytes_ = std::max(windowPeakBytes_, liveBytes_);
  }

  c10::Allocator* fallback_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable std::list<Block> cached_;  // oldest first
  mutable size_t cachedBytes_ = 0;
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
