import NIOCore
import RMMProtocol

/// One bounded part of the `HandshakeBook`: facts by key, at most `capacity` in all and
/// `perAddress` per address, the oldest out first. Every operation is O(1) amortized: the order
/// queues drop removed keys lazily (an entry whose sequence number no longer matches is skipped)
/// and are compacted when stale entries outnumber live ones.
struct HandshakeShelf {
    /// A queued key with the sequence number it was noted under.
    private struct Slot {
        var key: String
        var seq: Int
    }

    private(set) var facts: [String: (fact: HandshakeFact, seq: Int)] = [:]
    private var order = CircularBuffer<Slot>()
    private var byAddress: [String: (slots: CircularBuffer<Slot>, live: Int)] = [:]
    let capacity: Int
    let perAddress: Int

    init(capacity: Int, perAddress: Int) {
        self.capacity = max(1, capacity)
        self.perAddress = max(1, perAddress)
    }

    var count: Int { facts.count }

    /// Keeps `fact` under `key` (unless the key is held already), evicting the oldest of its
    /// address beyond `perAddress`, then the oldest of all beyond `capacity`.
    mutating func note(_ fact: HandshakeFact, key: String, seq: Int) {
        guard facts[key] == nil else { return }
        facts[key] = (fact, seq)
        let slot = Slot(key: key, seq: seq)
        order.append(slot)
        var entry = byAddress[fact.address] ?? (slots: CircularBuffer<Slot>(), live: 0)
        entry.slots.append(slot)
        entry.live += 1
        byAddress[fact.address] = entry
        if entry.live > perAddress, let oldest = oldestLive(ofAddress: fact.address) { remove(oldest) }
        while facts.count > capacity, let oldest = popOldestLive() { remove(oldest) }
        compact(address: fact.address)
    }

    /// Takes the fact under `key` out, if held.
    mutating func take(_ key: String) -> HandshakeFact? {
        guard let held = facts[key] else { return nil }
        remove(key)
        return held.fact
    }

    /// The facts per address, each with its sequence number.
    func byAddressWithSeq() -> [String: [(fact: HandshakeFact, seq: Int)]] {
        var result: [String: [(fact: HandshakeFact, seq: Int)]] = [:]
        for (_, held) in facts { result[held.fact.address, default: []].append(held) }
        return result
    }

    private func isLive(_ slot: Slot) -> Bool { facts[slot.key]?.seq == slot.seq }

    /// The oldest live key of `address` (stale slots in front are dropped on the way).
    private mutating func oldestLive(ofAddress address: String) -> String? {
        guard var entry = byAddress[address] else { return nil }
        while let first = entry.slots.first, !isLive(first) { entry.slots.removeFirst() }
        byAddress[address] = entry
        return entry.slots.first?.key
    }

    private mutating func popOldestLive() -> String? {
        while let first = order.first {
            if isLive(first) { return first.key }
            order.removeFirst()
        }
        return nil
    }

    private mutating func remove(_ key: String) {
        guard let held = facts.removeValue(forKey: key) else { return }
        let address = held.fact.address
        guard var entry = byAddress[address] else { return }
        entry.live -= 1
        byAddress[address] = entry.live > 0 ? entry : nil
    }

    /// Drops stale slots once they outnumber live ones (amortized O(1) per note).
    private mutating func compact(address: String) {
        if order.count > 2 * max(facts.count, 16) {
            order = CircularBuffer(order.filter { isLive($0) })
        }
        if var entry = byAddress[address], entry.slots.count > 2 * max(entry.live, 4) {
            entry.slots = CircularBuffer(entry.slots.filter { isLive($0) })
            byAddress[address] = entry
        }
    }
}
