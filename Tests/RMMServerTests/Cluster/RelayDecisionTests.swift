import Foundation
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer

@Suite("RelayDecision")
struct RelayDecisionTests {
    static let here = RelayDecision.Local(connectedEpoch: 4)

    @Test("the node holding the connection acts; the others do nothing")
    func onlyTheHolderActs() {
        let cases: [(ClusterSignal, [RelayDecision.Action])] = [
            (.work(agentIds: ["ag_1"], batchId: "b_1"), [.reload(agentId: "ag_1")]),
            (.cancel(commandId: "c_1", agentId: "ag_1", reason: "r"), [.sendCancel(agentId: "ag_1", commandId: "c_1", reason: "r"), .wakeLongPolls]),
            (.evict(agentId: "ag_1", reason: "r"), [.evict(agentId: "ag_1", reason: "r")]),
            (.diagnose(agentId: "ag_1", requestId: "d_1"), [.diagnose(agentId: "ag_1")]),
        ]
        for (signal, actions) in cases {
            #expect(RelayDecision.actions(for: signal, local: Self.here, configVersion: 1) == actions)
            #expect(RelayDecision.actions(for: signal, local: .none, configVersion: 1).isEmpty, "\(signal)")
        }
    }

    @Test("a revoke marks the agent here whether or not it is connected here")
    func revokeEverywhere() {
        for local in [Self.here, .none] {
            #expect(RelayDecision.actions(for: .revoke(agentId: "ag_1"), local: local, configVersion: 1) == [.revoke(agentId: "ag_1"), .wakeLongPolls])
        }
    }

    @Test("only a newer epoch closes the connection here")
    func superseded() {
        #expect(RelayDecision.actions(for: .superseded(agentId: "ag_1", epoch: 5), local: Self.here, configVersion: 1)
            == [.closeSuperseded(agentId: "ag_1", epoch: 5)])
        #expect(RelayDecision.actions(for: .superseded(agentId: "ag_1", epoch: 4), local: Self.here, configVersion: 1).isEmpty)
        #expect(RelayDecision.actions(for: .superseded(agentId: "ag_1", epoch: 3), local: Self.here, configVersion: 1).isEmpty)
        #expect(RelayDecision.actions(for: .superseded(agentId: "ag_1", epoch: 9), local: .none, configVersion: 1).isEmpty)
    }

    @Test("a config is loaded only when newer than this node's")
    func config() {
        #expect(RelayDecision.actions(for: .config(version: 3), local: .none, configVersion: 2) == [.loadConfig])
        #expect(RelayDecision.actions(for: .config(version: 2), local: .none, configVersion: 2).isEmpty)
    }

    @Test("a batch-wide work signal, a rescan and a change wake what they must")
    func wideSignals() {
        #expect(RelayDecision.actions(for: .work(agentIds: [], batchId: "b_1"), local: .none, configVersion: 1) == [.sweepAll])
        #expect(RelayDecision.actions(for: .rescan, local: .none, configVersion: 1) == [.sweepAll, .loadConfig, .wakeLongPolls])
        #expect(RelayDecision.actions(for: .batchChanged(batchId: nil), local: .none, configVersion: 1) == [.wakeLongPolls])
        #expect(RelayDecision.actions(for: .renamed(agentId: "ag_1"), local: .none, configVersion: 1) == [.wakeLongPolls])
    }

    @Test("the sweep names the connected agents whose stored undelivered commands the stream lacks")
    func sweep() {
        let stored: [String: Set<String>] = ["a": ["c1", "c2"], "b": ["c3"], "c": ["c4"], "offline": ["c5"]]
        let held: [String: Set<String>] = ["a": ["c1"], "b": ["c3", "c9"], "c": [], "d": ["c7"]]
        #expect(ClusterSweep.behind(stored: stored, held: held) == ["a", "c"])
    }

    @Test("an agent on another node: status from the stored liveness facts, one flush interval more")
    func storedStatus() {
        let now = Fixture.at(1_000)
        var agent = AgentRecord(id: "ag_1", name: "web-1", publicKey: "k", hostname: "h", os: "linux", version: "1", enrolledAt: Fixture.t0)
        #expect(AgentViews.storedStatus(of: agent, now: now, deadline: 45, flushInterval: 30) == .offline)
        agent.connectedSince = Fixture.at(900)
        agent.lastSeenAt = Fixture.at(940)
        agent.lastDownlinkAt = Fixture.at(940)
        #expect(AgentViews.storedStatus(of: agent, now: now, deadline: 45, flushInterval: 30) == .online)
        agent.lastDownlinkAt = Fixture.at(900)
        #expect(AgentViews.storedStatus(of: agent, now: now, deadline: 45, flushInterval: 30) == .degraded)
        agent.lastSeenAt = Fixture.at(920)
        #expect(AgentViews.storedStatus(of: agent, now: now, deadline: 45, flushInterval: 30) == .offline)
        agent.lastSeenAt = Fixture.at(990)
        agent.disconnectedAt = Fixture.at(995)
        #expect(AgentViews.storedStatus(of: agent, now: now, deadline: 45, flushInterval: 30) == .offline)
    }
}
