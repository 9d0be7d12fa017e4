import Foundation
import Logging
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

@testable import RMMAgent

/// Which node an agent tries next: stay while a node works, move on after a failure to the one
/// that failed longest ago, a draining node's named successor first, learned nodes after the
/// configured ones. No sockets: attempts are reported and time is passed in.
@Suite("Server rotation")
struct ServerRotationTests {
    private let t0 = Date(timeIntervalSince1970: 1_750_000_000)
    private let logger = Logger(label: "test")

    private func node(_ n: Int, plain: Bool = false) -> ServerEndpoint {
        // Literal URLs always parse.
        try! ServerEndpoint(parsing: "\(plain ? "ws" : "wss")://node-\(n):7443/agent")
    }

    private func ended(_ code: CloseCode?, _ reason: String = "", welcomed: Bool = true) -> ConnectAttempt {
        .ended(.ended(LinkClosure(code: code?.rawValue, reason: reason, byPeer: true), welcomed: welcomed, downlinkQuiet: false, welcomeLost: false))
    }

    @Test("one server: always that one, whatever happens")
    func single() {
        var rotation = ServerRotation(first: node(1))
        for step in 0..<5 {
            #expect(rotation.next(now: t0 + Double(step)) == node(1))
            rotation.record(.failed, now: t0 + Double(step))
        }
    }

    @Test("stays with a node that works, moves on after a failure, and comes back round")
    func rotates() {
        var rotation = ServerRotation(first: node(1), others: [node(2), node(3)])
        #expect(rotation.next(now: t0) == node(1))
        rotation.record(.worked, now: t0)
        #expect(rotation.next(now: t0 + 1) == node(1), "a node that works is kept")
        rotation.record(.failed, now: t0 + 1)
        #expect(rotation.next(now: t0 + 2) == node(2))
        rotation.record(.failed, now: t0 + 2)
        #expect(rotation.next(now: t0 + 3) == node(3))
        rotation.record(.failed, now: t0 + 3)
        #expect(rotation.next(now: t0 + 4) == node(1), "the one that failed longest ago")
        rotation.record(.worked, now: t0 + 4)
        #expect(rotation.next(now: t0 + 5) == node(1))
        rotation.record(.failed, now: t0 + 5)
        #expect(rotation.next(now: t0 + 6) == node(2))
    }

    @Test("the agents of a lost node divide among the others by their spread; the first connect still goes to the first --server")
    func spreadDividesALostNodesAgents() {
        var chosen: [String: Int] = [:]
        for spread in UInt64(0)..<300 {
            var rotation = ServerRotation(first: node(3), others: [node(1), node(2)], spread: spread)
            #expect(rotation.next(now: t0) == node(3))
            rotation.record(.failed, now: t0)
            let next = rotation.next(now: t0 + 1)
            #expect(next != node(3), "a node that just failed comes last")
            chosen[next.description, default: 0] += 1
        }
        #expect(chosen[node(1).description] == 150 && chosen[node(2).description] == 150, "\(chosen)")
    }

    @Test("a close hint's node is tried first, once, and only while fresh")
    func redirect() {
        var rotation = ServerRotation(first: node(1), others: [node(2), node(3)])
        _ = rotation.next(now: t0)
        rotation.record(.redirected(to: node(3)), now: t0)
        #expect(rotation.next(now: t0 + 1) == node(3))
        rotation.record(.failed, now: t0 + 1)
        #expect(rotation.next(now: t0 + 2) == node(2), "the hint is used once")
        rotation.record(.redirected(to: node(9)), now: t0 + 2)
        #expect(rotation.next(now: t0 + 2 + ServerRotation.redirectValidity + 1) != node(9), "a stale hint is dropped")
    }

    @Test("learned nodes come after the configured ones, without repeats, and replace the last list")
    func learning() {
        var rotation = ServerRotation(first: node(1), learned: [node(1), node(4)])
        #expect(rotation.candidates == [node(1), node(4)])
        let changed = rotation.learn([node(5), node(5), node(1)])
        #expect(changed)
        #expect(rotation.candidates == [node(1), node(5)])
        let again = rotation.learn([node(5)])
        #expect(!again, "the same list changes nothing")
        _ = rotation.next(now: t0)
        rotation.record(.failed, now: t0)
        #expect(rotation.next(now: t0 + 1) == node(5))
    }

    @Test("what an attempt says: failures and go-elsewhere closes move on, a session that ran stays")
    func outcomes() {
        #expect(ServerRotation.outcome(of: .failed, allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: .answerLost("x"), allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: ended(.handshakeTimeout, welcomed: false), allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: ended(.serverShutdown), allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: ended(.rateLimited), allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: ended(.deadlineExpired), allowPlain: false) == .worked)
        #expect(ServerRotation.outcome(of: ended(.evicted), allowPlain: false) == .worked)
        #expect(ServerRotation.outcome(of: ended(nil), allowPlain: false) == .worked)
        #expect(ServerRotation.outcome(of: ended(.serverShutdown, "server=wss://node-2:7443/agent"), allowPlain: false) == .redirected(to: node(2)))
        // A plain node is no target without --allow-plain; a hostile hint is no target at all.
        #expect(ServerRotation.outcome(of: ended(.serverShutdown, "server=ws://node-2:7443/agent"), allowPlain: false) == .failed)
        #expect(ServerRotation.outcome(of: ended(.serverShutdown, "server=ws://node-2:7443/agent"), allowPlain: true) == .redirected(to: node(2, plain: true)))
        #expect(ServerRotation.outcome(of: ended(.serverShutdown, "server=file:///etc/passwd"), allowPlain: true) == .failed)
    }

    @Test("a welcome's nodes: the usable ones kept, hostile ones left out, at most the cap looked at")
    func usableNodes() {
        let urls = ["wss://node-1:7443/agent", "ws://node-2:7443/agent", "not a url", "https://x", "", String(repeating: "w", count: 100_000),
                    "wss://" + String(repeating: "n", count: 400), "\u{1b}[2J"]
        #expect(LearnedNodes.usable(urls, allowPlain: false, logger: logger) == [node(1)])
        #expect(LearnedNodes.usable(urls, allowPlain: true, logger: logger) == [node(1), node(2, plain: true)])
        let many = (0..<1000).map { "wss://node-\($0):7443/agent" }
        #expect(LearnedNodes.usable(many, allowPlain: false, logger: logger).count == NodeURL.maxNodes)
    }

    @Test("the learned list is kept in a private file and read back; a broken file is ignored")
    func persisted() throws {
        let directory = try freeTemporaryDirectory(prefix: "rotation")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(LearnedNodes.load(stateDirectory: directory, logger: logger).isEmpty)
        try LearnedNodes.save(["wss://node-1:7443/agent"], stateDirectory: directory)
        #expect(LearnedNodes.load(stateDirectory: directory, logger: logger) == ["wss://node-1:7443/agent"])
        let path = directory + "/" + LearnedNodes.fileName
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        try LearnedNodes.save([], stateDirectory: directory)
        try Data("{\"nodes\": 7}".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(LearnedNodes.load(stateDirectory: directory, logger: logger).isEmpty)
    }
}
