/// The last `capacity` command ids an agent saw, so a retransmitted command is acked
/// `duplicate: true` and never answered twice. The real agent's journal remembers ids on disk
/// for ever; a simulated agent keeps this bounded set in memory only (retransmissions come
/// within seconds, and a fleet running for hours must not grow without bound).
struct RecentIds: Sendable {
    private var ids = Set<String>()
    private var ring: [String] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func contains(_ id: String) -> Bool { ids.contains(id) }

    /// Remembers `id`, forgetting the oldest when full.
    mutating func insert(_ id: String) {
        guard ids.insert(id).inserted else { return }
        if ring.count < capacity {
            ring.append(id)
        } else {
            ids.remove(ring[next])
            ring[next] = id
            next = (next + 1) % capacity
        }
    }
}
