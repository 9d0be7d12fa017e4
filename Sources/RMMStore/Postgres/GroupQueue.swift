/// Which writes share a PostgreSQL transaction (`PostgresGroupWriter`): a pure queue with a
/// bounded number of writers ("lanes").
///
/// A write that arrives while a lane is free starts a writer at once, alone: no timer, no added
/// delay. Writes that arrive while every lane is busy wait, and the next writer to come free
/// takes all of them (up to `maxJobs` and `maxBytes`) into its next transaction, so the busier
/// the node the more writes one round trip and one commit carry.
struct GroupQueue<Job> {
    /// Most transactions in flight at once.
    let lanes: Int
    /// Most writes one transaction takes.
    let maxJobs: Int
    /// Most bytes (output carried) one transaction takes; a single larger write still goes alone.
    let maxBytes: Int

    private var waiting: [(job: Job, bytes: Int)] = []
    private var head = 0
    /// Writers running now.
    private(set) var running = 0

    init(lanes: Int, maxJobs: Int, maxBytes: Int) {
        self.lanes = max(1, lanes)
        self.maxJobs = max(1, maxJobs)
        self.maxBytes = max(1, maxBytes)
    }

    /// Writes waiting for a writer.
    var waitingCount: Int { waiting.count - head }

    /// Queues `job`; true if a lane was free and the caller must start a writer (which then
    /// calls `take` until it returns nothing).
    mutating func add(_ job: Job, bytes: Int) -> Bool {
        waiting.append((job, max(0, bytes)))
        guard running < lanes else { return false }
        running += 1
        return true
    }

    /// The writes a writer commits next, oldest first; empty when none wait, and the writer's
    /// lane is then free (it must stop).
    mutating func take() -> [Job] {
        var taken: [Job] = []
        var bytes = 0
        while head < waiting.count, taken.count < maxJobs {
            let next = waiting[head]
            if !taken.isEmpty && bytes + next.bytes > maxBytes { break }
            taken.append(next.job)
            bytes += next.bytes
            head += 1
        }
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        if taken.isEmpty { running -= 1 }
        return taken
    }
}
