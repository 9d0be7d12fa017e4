/// Another live node a draining node hands agents to: one whose lease is current and that is not
/// draining itself.
struct DrainTarget: Sendable, Equatable {
    let name: String
    /// Its advertised agent URL, sent to agents as the close hint `server=URL`.
    let agentUrl: String
}

/// How fast a draining node closes its sessions, so that the nodes taking its agents are not hit
/// by all of them at once (an agent reconnects about half a second after a 4008, with no jitter
/// to speak of: the pacing is the server's to do).
struct DrainPacing: Sendable, Equatable {
    /// Time between two waves of closes.
    var waveInterval: Duration = .milliseconds(100)
    /// Agents each receiving node is sent per second, at most, while the deadline allows it: a
    /// node takes a few thousand handshakes a second, each a signature check and a store write.
    var closesPerSecondPerNode = 500
    /// Share of the drain deadline the closes may spread over; the rest is the last agents' time
    /// to reconnect. When the fleet would not fit at the rate above, waves grow to fit it.
    var closeWindowShare = 0.5
    /// How often the store is asked which of the closed agents connected elsewhere.
    var checkInterval: Duration = .milliseconds(500)
}

/// How a drain ended (`NodeDrainMachine`).
struct DrainSummary: Sendable, Equatable {
    enum Ending: Sendable, Equatable {
        /// No other node to hand agents to: every session was closed at once, no waiting.
        case alone
        /// Every agent closed here connected to another node (or left on its own).
        case moved
        /// The deadline passed first.
        case timedOut
    }

    var ending: Ending
    /// Agents connected here when the drain began.
    var total: Int
    /// Closed here, then seen in the store with a newer connection (on another node).
    var moved: Int
    /// Gone from this node before their turn came (disconnected by themselves), or deleted.
    var left: Int
    /// Not seen elsewhere by the deadline.
    var remaining: Int
    var elapsed: Duration
}

/// What a node stopping with SIGTERM does with the agents connected to it: closes their sessions
/// in bounded waves with 4008 and a close hint naming another node (round robin over the other
/// live nodes), then waits until the store shows each of them with a newer connection, or until
/// the deadline. With no other node it closes every session at once without a hint and does not
/// wait, as a single server always has. A pure machine: the caller passes the time, carries out
/// each action and reports what it found.
struct NodeDrainMachine: Sendable {
    /// One session to close, and where its agent is sent (nil: no hint).
    struct Handover: Sendable, Equatable {
        var agentId: String
        /// The epoch of its connection here: a larger stored epoch means it connected again.
        var epoch: Int
        var target: DrainTarget?
    }

    enum Action: Sendable, Equatable {
        /// Close these sessions with 4008, each with its target's hint; then report the agents
        /// that were no longer connected here (`notConnected`).
        case close([Handover])
        /// Read these agents' stored epochs and report them (`observed`). A read that fails is
        /// not reported: the next check comes at its time, and the deadline bounds the wait.
        case check(agentIds: [String])
        case wait(until: ContinuousClock.Instant)
        /// Done: the caller finishes the normal shutdown. Returned again on every later call.
        case finished(DrainSummary)
    }

    let targets: [DrainTarget]
    /// Sessions closed per wave.
    let waveSize: Int
    let total: Int
    private let pacing: DrainPacing
    private let started: ContinuousClock.Instant
    private let deadline: ContinuousClock.Instant
    private var queue: ArraySlice<(agentId: String, epoch: Int)>
    /// Closed here, not yet seen elsewhere: agent id to the epoch closed.
    private var awaiting: [String: Int] = [:]
    private var handedOut = 0
    private var moved = 0
    private var left = 0
    private var nextWave: ContinuousClock.Instant
    private var nextCheck: ContinuousClock.Instant
    private var summary: DrainSummary?

    /// `agents` are the sessions connected here with their connections' epochs, `targets` the
    /// other live nodes (empty: this node is alone), `limit` the drain's deadline from `now`.
    init(agents: [(agentId: String, epoch: Int)], targets: [DrainTarget], limit: Duration, pacing: DrainPacing = DrainPacing(),
         now: ContinuousClock.Instant) {
        self.targets = targets
        self.pacing = pacing
        total = agents.count
        queue = agents[...]
        started = now
        deadline = now + limit
        nextWave = now
        nextCheck = now + pacing.checkInterval
        let interval = Self.seconds(pacing.waveInterval)
        let window = max(Self.seconds(limit) * pacing.closeWindowShare, interval)
        let perSecond = max(Double(pacing.closesPerSecondPerNode * targets.count), Double(agents.count) / window)
        waveSize = max(1, Int((perSecond * interval).rounded(.up)))
    }

    /// The next thing to do at `now`.
    mutating func next(now: ContinuousClock.Instant) -> Action {
        if let summary { return .finished(summary) }
        if targets.isEmpty {
            if !queue.isEmpty { return .close(take(queue.count)) }
            return finish(.alone, now: now)
        }
        if queue.isEmpty && awaiting.isEmpty { return finish(.moved, now: now) }
        if now >= deadline {
            // Those not closed yet still get a hint: they reconnect elsewhere after this node exits.
            if !queue.isEmpty { return .close(take(queue.count)) }
            return finish(.timedOut, now: now)
        }
        if !queue.isEmpty && now >= nextWave {
            nextWave = now + pacing.waveInterval
            return .close(take(waveSize))
        }
        if !awaiting.isEmpty && now >= nextCheck {
            nextCheck = now + pacing.checkInterval
            return .check(agentIds: awaiting.keys.sorted())
        }
        var wake = deadline
        if !queue.isEmpty { wake = min(wake, nextWave) }
        if !awaiting.isEmpty { wake = min(wake, nextCheck) }
        return .wait(until: wake)
    }

    /// Agents of a `close` that had no connection here any more: nothing was sent to them.
    mutating func notConnected(_ agentIds: [String]) {
        for agentId in agentIds where awaiting.removeValue(forKey: agentId) != nil { left += 1 }
    }

    /// The stored epochs read for a `check` (an agent absent was deleted).
    mutating func observed(epochs: [String: Int], asked agentIds: [String]) {
        for agentId in agentIds {
            guard let closed = awaiting[agentId] else { continue }
            if let current = epochs[agentId] {
                guard current > closed else { continue }
                moved += 1
            } else {
                left += 1
            }
            awaiting[agentId] = nil
        }
    }

    private mutating func take(_ count: Int) -> [Handover] {
        let wave = queue.prefix(count)
        queue = queue.dropFirst(wave.count)
        return wave.map { agent in
            var target: DrainTarget?
            if !targets.isEmpty {
                target = targets[handedOut % targets.count]
                handedOut += 1
                awaiting[agent.agentId] = agent.epoch
            }
            return Handover(agentId: agent.agentId, epoch: agent.epoch, target: target)
        }
    }

    private mutating func finish(_ ending: DrainSummary.Ending, now: ContinuousClock.Instant) -> Action {
        let done = DrainSummary(ending: ending, total: total, moved: moved, left: left, remaining: awaiting.count, elapsed: now - started)
        summary = done
        return .finished(done)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
