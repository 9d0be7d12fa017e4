import Testing

@testable import RMMServer

/// Where a draining node sends each agent, how fast, and when it is done: from the time and what
/// the store shows alone.
@Suite struct NodeDrainMachineTests {
    let t0 = ContinuousClock.now
    let n2 = DrainTarget(name: "n2", agentUrl: "ws://127.0.0.1:7002/agent")
    let n3 = DrainTarget(name: "n3", agentUrl: "ws://127.0.0.1:7003/agent")

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    func agents(_ count: Int) -> [(agentId: String, epoch: Int)] {
        (0..<count).map { (agentId: "ag\($0)", epoch: 7) }
    }

    @Test func aloneClosesEverySessionAtOnceWithoutAHintAndDoesNotWait() {
        var machine = NodeDrainMachine(agents: agents(3), targets: [], limit: .seconds(30), now: t0)
        #expect(machine.next(now: t0) == .close(agents(3).map { .init(agentId: $0.agentId, epoch: 7, target: nil) }))
        let finished = DrainSummary(ending: .alone, total: 3, moved: 0, left: 0, remaining: 0, elapsed: .zero)
        #expect(machine.next(now: t0) == .finished(finished))
        #expect(machine.next(now: at(5)) == .finished(finished), "the end is final")
    }

    @Test func agentsAreSpreadRoundRobinOverTheOtherNodes() {
        var machine = NodeDrainMachine(agents: agents(4), targets: [n2, n3], limit: .seconds(30), now: t0)
        guard case .close(let wave) = machine.next(now: t0) else {
            Issue.record("a first wave at once")
            return
        }
        #expect(wave.map(\.target) == [n2, n3, n2, n3])
        #expect(wave.map(\.epoch) == [7, 7, 7, 7])
    }

    @Test func closesArePacedInWavesAtTheRatePerReceivingNode() {
        // 500 a second per node, one node, waves every 100 ms: 50 a wave.
        var machine = NodeDrainMachine(agents: agents(120), targets: [n2], limit: .seconds(30), now: t0)
        #expect(machine.waveSize == 50)
        guard case .close(let first) = machine.next(now: t0) else {
            Issue.record("a first wave at once")
            return
        }
        #expect(first.count == 50)
        #expect(machine.next(now: at(0.05)) == .wait(until: at(0.1)))
        guard case .close(let second) = machine.next(now: at(0.1)) else {
            Issue.record("the second wave 100 ms later")
            return
        }
        #expect(second.count == 50 && second.first?.agentId == "ag50")
        guard case .close(let third) = machine.next(now: at(0.2)) else {
            Issue.record("the third wave 100 ms later")
            return
        }
        #expect(third.count == 20)
        // All closed: the next thing is the first check of who moved.
        #expect(machine.next(now: at(0.3)) == .wait(until: at(0.5)))
    }

    @Test func aFleetTooLargeForTheRateStillClosesWithinHalfTheDeadline() {
        // 20,000 agents, one receiving node, 30 s: 500 a second would take 40 s, so waves grow
        // to close them all in 15 s (134 a wave, 150 waves).
        let machine = NodeDrainMachine(agents: agents(20_000), targets: [n2], limit: .seconds(30), now: t0)
        #expect(machine.waveSize == 134)
        // Two receiving nodes at 500 each fit 20,000 in 20 s: still more than 15 s, so the window rules.
        let two = NodeDrainMachine(agents: agents(20_000), targets: [n2, n3], limit: .seconds(30), now: t0)
        #expect(two.waveSize == 134)
        let small = NodeDrainMachine(agents: agents(2_000), targets: [n2, n3], limit: .seconds(30), now: t0)
        #expect(small.waveSize == 100, "1,000 a second for two nodes")
    }

    @Test func doneWhenTheStoreShowsEveryClosedAgentWithANewerConnection() {
        var machine = NodeDrainMachine(agents: agents(3), targets: [n2], limit: .seconds(30), now: t0)
        guard case .close = machine.next(now: t0) else {
            Issue.record("a first wave at once")
            return
        }
        machine.notConnected([])
        #expect(machine.next(now: at(0.1)) == .wait(until: at(0.5)))
        #expect(machine.next(now: at(0.5)) == .check(agentIds: ["ag0", "ag1", "ag2"]))
        // ag0 connected elsewhere; ag1 not yet (its epoch unchanged); ag2 was deleted.
        machine.observed(epochs: ["ag0": 8, "ag1": 7], asked: ["ag0", "ag1", "ag2"])
        #expect(machine.next(now: at(0.6)) == .wait(until: at(1.0)))
        #expect(machine.next(now: at(1.0)) == .check(agentIds: ["ag1"]))
        machine.observed(epochs: ["ag1": 9], asked: ["ag1"])
        #expect(machine.next(now: at(1.1)) == .finished(DrainSummary(ending: .moved, total: 3, moved: 2, left: 1, remaining: 0, elapsed: .milliseconds(1100))))
    }

    @Test func anAgentGoneBeforeItsTurnIsNotWaitedFor() {
        var machine = NodeDrainMachine(agents: agents(2), targets: [n2], limit: .seconds(30), now: t0)
        guard case .close = machine.next(now: t0) else {
            Issue.record("a first wave at once")
            return
        }
        machine.notConnected(["ag1"])
        #expect(machine.next(now: at(0.5)) == .check(agentIds: ["ag0"]))
        machine.observed(epochs: ["ag0": 8], asked: ["ag0"])
        #expect(machine.next(now: at(0.5)) == .finished(DrainSummary(ending: .moved, total: 2, moved: 1, left: 1, remaining: 0, elapsed: .milliseconds(500))))
    }

    @Test func theDeadlineEndsTheWaitAndClosesWhatIsLeftWithAHint() {
        var pacing = DrainPacing()
        pacing.closesPerSecondPerNode = 10
        // 10 a second, 1 a wave; a 2 s limit would want 1 s of closes for 30 agents: 3 a wave.
        var machine = NodeDrainMachine(agents: agents(30), targets: [n2], limit: .seconds(2), pacing: pacing, now: t0)
        #expect(machine.waveSize == 3)
        guard case .close(let first) = machine.next(now: t0), first.count == 3 else {
            Issue.record("a first wave of three")
            return
        }
        // The check and the store both stall; the deadline comes with 27 agents unclosed.
        #expect(machine.next(now: at(2)) == .close((3..<30).map { .init(agentId: "ag\($0)", epoch: 7, target: n2) }))
        #expect(machine.next(now: at(2)) == .finished(DrainSummary(ending: .timedOut, total: 30, moved: 0, left: 0, remaining: 30, elapsed: .seconds(2))))
    }

    @Test func aFailedCheckIsRetriedAtTheNextInterval() {
        var machine = NodeDrainMachine(agents: agents(1), targets: [n2], limit: .seconds(30), now: t0)
        _ = machine.next(now: t0)
        #expect(machine.next(now: at(0.5)) == .check(agentIds: ["ag0"]))
        // Nothing reported: the read failed.
        #expect(machine.next(now: at(0.6)) == .wait(until: at(1.0)))
        #expect(machine.next(now: at(1.0)) == .check(agentIds: ["ag0"]))
    }

    @Test func noAgentsMeansDoneAtOnce() {
        var machine = NodeDrainMachine(agents: [], targets: [n2], limit: .seconds(30), now: t0)
        #expect(machine.next(now: t0) == .finished(DrainSummary(ending: .moved, total: 0, moved: 0, left: 0, remaining: 0, elapsed: .zero)))
    }
}
