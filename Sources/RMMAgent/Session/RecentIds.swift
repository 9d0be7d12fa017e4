/// The last `capacity` ids seen, in memory only: what a peer can fill but never grow. The agent
/// keeps the ids of frames that failed their signature check in one; a simulated agent keeps the
/// command ids it saw in one instead of a journal (retransmissions come within seconds, and a
/// fleet running for hours must not grow without bound).
public struct RecentIds: Sendable {
    private var ids = Set<String>()
    private var ring: [String] = []
    private var next = 0
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public func contains(_ id: String) -> Bool { ids.contains(id) }

    /// Remembers `id`, forgetting the oldest when full.
    public mutating func insert(_ id: String) {
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
