#pragma once

// An open-addressing hash index from small keys (views, indices) to a 32-bit value, for the
// compiler's passes. std::unordered_map allocates a node per entry and reaches it through a
// bucket array with a division; at 50,000 entries those cache misses were a third of compile time
// (bench/routing_bench). Here a lookup is one probe sequence over a flat array with the hash kept
// in the slot. Keys must stay valid as long as the index (views point into the compiled objects).

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace portico::routing {

template <typename Key, typename Hash>
class FlatIndex {
 public:
  static constexpr std::uint32_t kEmpty = 0xffffffffu;

  explicit FlatIndex(std::size_t expected = 0) { rehash(expected); }

  // Inserts `value` unless `key` is present. Returns the stored value and whether it was inserted.
  std::pair<std::uint32_t, bool> insert(const Key& key, std::uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(size_ + 1);
    std::size_t h = Hash{}(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value == kEmpty) {
        s = Slot{h, key, value};
        ++size_;
        return {value, true};
      }
      if (s.hash == h && s.key == key) return {s.value, false};
    }
  }

  // The value stored for `key`, or kEmpty.
  std::uint32_t find(const Key& key) const {
    std::size_t h = Hash{}(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kEmpty) return kEmpty;
      if (s.hash == h && s.key == key) return s.value;
    }
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::size_t hash = 0;
    Key key{};
    std::uint32_t value = kEmpty;
  };

  void rehash(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < entries * 2) capacity *= 2;
    if (capacity <= slots_.size()) return;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.value == kEmpty) continue;
      std::size_t i = s.hash & mask_;
      while (slots_[i].value != kEmpty) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace portico::routing
