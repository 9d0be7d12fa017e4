import Foundation
import RMMProtocol
import Testing
import RMMStore

@Suite struct CommandStoreTests {
    @Test(arguments: StoreBackend.allCases) func insertStoresQueuedCommandWithEvent(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let cmd = Fixture.command("c1", agent: agent.id)
        try await store.insertCommands([cmd])
        let stored = try #require(try await store.command(id: "c1"))
        #expect(stored.state == .queued)
        #expect(stored.version > 0)
        var expected = cmd
        expected.version = stored.version
        #expect(stored == expected)
        #expect(try await store.events(commandId: "c1") == [CommandEvent(commandId: "c1", state: .queued, at: Fixture.t0, reason: nil)])
    }

    @Test(arguments: StoreBackend.allCases) func insertRefusesDuplicatesAndUnknownAgentsAtomically(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        await #expect(throws: StoreError.conflict("command 'c1' already exists")) {
            try await store.insertCommands([Fixture.command("c2", agent: agent.id), Fixture.command("c1", agent: agent.id)])
        }
        await #expect(throws: StoreError.notFound("agent 'ag_nobody'")) {
            try await store.insertCommands([Fixture.command("c3", agent: agent.id), Fixture.command("c4", agent: "ag_nobody")])
        }
        #expect(try await store.commands(agentId: nil, limit: 10).map(\.id) == ["c1"])
    }

    @Test(arguments: StoreBackend.allCases) func aBatchTakesVersionsAfterThoseBefore(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c0", agent: agent.id)])
        let first = try #require(try await store.command(id: "c0")).version
        try await store.insertCommands((1...5).map { Fixture.command("c\($0)", agent: agent.id) })
        var versions: [Int] = []
        for index in 1...5 { versions.append(try #require(try await store.command(id: "c\(index)")).version) }
        let sent = try #require(try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1)))
        switch backend {
        case .sqlite:
            #expect(versions == Array(first + 1...first + 5))
            // The next write continues after the range.
            #expect(sent.version == first + 6)
        case .postgres:
            // A version is the writing transaction's id: one insert's commands share it.
            #expect(Set(versions).count == 1 && versions[0] > first)
            #expect(sent.version > versions[0])
        }
    }

    @Test("a large batch's history is stored in order, many rows per statement", arguments: StoreBackend.allCases)
    func largeBatchHistoryInOrder(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let commands = (0..<70).map { index in
            var command = Fixture.command("c\(index)", agent: agent.id)
            if index % 2 == 0 {
                command.state = .sent
                command.reason = "epoch 3"
            }
            return command
        }
        try await store.insertCommands(commands)
        for index in [0, 1, 33, 68, 69] {
            let events = try await store.events(commandId: "c\(index)")
            #expect(events.map(\.state) == (index % 2 == 0 ? [.queued, .sent] : [.queued]))
            #expect(events.last?.reason == (index % 2 == 0 ? "epoch 3" : nil))
        }
    }

    @Test(arguments: StoreBackend.allCases) func allowedTransitionsUpdateRowAndRecordEventsInOrder(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        let sent = try #require(try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1)))
        let delivered = try #require(try await store.transition(commandId: "c1", to: .delivered, reason: "acked", now: Fixture.at(2)))
        let running = try #require(try await store.transition(commandId: "c1", to: .running, reason: nil, now: Fixture.at(3)))
        #expect(sent.state == .sent && delivered.state == .delivered && running.state == .running)
        #expect(delivered.reason == "acked" && delivered.updatedAt == Fixture.at(2))
        #expect(sent.version < delivered.version && delivered.version < running.version)
        #expect(try await store.command(id: "c1") == running)
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .running])
        #expect(try await store.events(commandId: "c1")[2] == CommandEvent(commandId: "c1", state: .delivered, at: Fixture.at(2), reason: "acked"))
    }

    @Test(arguments: StoreBackend.allCases) func refusedTransitionLeavesEverythingUntouched(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        let before = try #require(try await store.command(id: "c1"))
        #expect(try await store.transition(commandId: "c1", to: .running, reason: "skip", now: Fixture.at(1)) == nil)
        #expect(try await store.transition(commandId: "c1", to: .succeeded, reason: nil, now: Fixture.at(1)) == nil)
        #expect(try await store.command(id: "c1") == before)
        #expect(try await store.events(commandId: "c1").count == 1)

        _ = try await store.transition(commandId: "c1", to: .cancelled, reason: "operator", now: Fixture.at(2))
        let cancelled = try #require(try await store.command(id: "c1"))
        for next in CommandState.allCases {
            #expect(try await store.transition(commandId: "c1", to: next, reason: nil, now: Fixture.at(3)) == nil)
        }
        #expect(try await store.command(id: "c1") == cancelled)
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .cancelled])
        await #expect(throws: StoreError.notFound("command 'nope'")) {
            try await store.transition(commandId: "nope", to: .sent, reason: nil, now: Fixture.t0)
        }
    }

    @Test(arguments: StoreBackend.allCases) func finishAppendsMissingTailAndIsIdempotent(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c1", to: .running, reason: nil, now: Fixture.at(2))
        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("hello ".utf8), cap: 1024))

        let outcome = CommandOutcome(
            state: .failed, reason: "exit 3", exitCode: 3, stdout: Data("hello world".utf8), stderr: Data("oops".utf8),
            stderrTruncated: true
        )
        let done = try #require(try await store.finish(commandId: "c1", outcome: outcome, now: Fixture.at(5)))
        #expect(done.state == .failed && done.exitCode == 3 && done.signal == nil && done.reason == "exit 3")
        #expect(!done.stdoutTruncated && done.stderrTruncated && done.updatedAt == Fixture.at(5))
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("hello world".utf8))
        #expect(try await store.output(commandId: "c1", stream: .stderr) == Data("oops".utf8))
        #expect(try await store.command(id: "c1") == done)

        // Redelivered result (even a different one): nothing changes.
        let other = CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("hello world and more".utf8))
        #expect(try await store.finish(commandId: "c1", outcome: other, now: Fixture.at(9)) == nil)
        #expect(try await store.finish(commandId: "c1", outcome: outcome, now: Fixture.at(9)) == nil)
        #expect(try await store.command(id: "c1") == done)
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("hello world".utf8))
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .running, .failed])
    }

    @Test(arguments: StoreBackend.allCases) func concurrentFinishesHaveExactlyOneWinner(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let outcome = CommandOutcome(state: .succeeded, exitCode: Int32(i), stdout: Data("out".utf8))
                    return try await store.finish(commandId: "c1", outcome: outcome, now: Fixture.at(2)) != nil
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("out".utf8))
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .succeeded])
    }

    @Test(arguments: StoreBackend.allCases) func finishRefusesMovesTheLifecycleForbids(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        let before = try #require(try await store.command(id: "c1"))
        // queued → succeeded is not a move; nor is finishing with a non-terminal state.
        #expect(try await store.finish(commandId: "c1", outcome: CommandOutcome(state: .succeeded, stdout: Data("x".utf8)), now: Fixture.at(1)) == nil)
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        #expect(try await store.finish(commandId: "c1", outcome: CommandOutcome(state: .running), now: Fixture.at(2)) == nil)
        #expect(try await store.output(commandId: "c1", stream: .stdout).isEmpty)
        #expect(try await store.command(id: "c1")?.state == .sent)
        #expect(before.state == .queued)
    }

    @Test(arguments: StoreBackend.allCases) func listingsFilterAndOrder(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let other = try await Fixture.agent(store, key: "key-2", name: "other")
        try await store.insertCommands([
            Fixture.command("a1", agent: agent.id, created: 1, expires: 10),
            Fixture.command("a2", agent: agent.id, created: 2, expires: 20),
            Fixture.command("a3", agent: agent.id, created: 3, expires: 5),
            Fixture.command("a4", agent: agent.id, created: 4, expires: 30),
            Fixture.command("o1", agent: other.id, batch: "b2", created: 0, expires: 1),
        ])
        _ = try await store.transition(commandId: "a2", to: .sent, reason: nil, now: Fixture.at(5))
        _ = try await store.transition(commandId: "a3", to: .sent, reason: nil, now: Fixture.at(5))
        _ = try await store.transition(commandId: "a3", to: .delivered, reason: nil, now: Fixture.at(6))
        _ = try await store.transition(commandId: "a4", to: .cancelled, reason: nil, now: Fixture.at(6))

        #expect(try await store.undeliveredCommands(agentId: agent.id).map(\.id) == ["a1", "a2"])
        // a3 was delivered and had to end by expiry (5) + timeout + slack; a result after that is overdue.
        let overdueAt = 5 + Fixture.command("x", agent: agent.id, created: 0, expires: 0).timeoutSeconds + 10
        #expect(try await store.commandsOverdueForResult(now: Fixture.at(overdueAt - 1), slack: 10).isEmpty)
        #expect(try await store.commandsOverdueForResult(now: Fixture.at(overdueAt + 1), slack: 10).map(\.id) == ["a3"])
        #expect(try await store.commands(agentId: agent.id, limit: 3).map(\.id) == ["a4", "a3", "a2"])
        #expect(try await store.commands(agentId: nil, limit: 10).map(\.id) == ["a4", "a3", "a2", "a1", "o1"])
        #expect(try await store.batch(id: "b1").map(\.id) == ["a1", "a2", "a3", "a4"])
        // expires_at strictly before now; delivered and cancelled commands never expire.
        #expect(try await store.commandsToExpire(now: Fixture.at(10)).map(\.id) == ["o1"])
        #expect(try await store.commandsToExpire(now: Fixture.at(40)).map(\.id) == ["o1", "a1", "a2"])
        #expect(try await store.commandsToExpire(now: Fixture.at(0.5)).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func pendingCountsCountNonTerminalCommandsPerAgent(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let other = try await Fixture.agent(store, key: "key-2", name: "other")
        try await store.insertCommands((1...4).map { Fixture.command("a\($0)", agent: agent.id) } + [Fixture.command("o1", agent: other.id)])
        _ = try await store.transition(commandId: "a2", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "a3", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "a3", to: .running, reason: nil, now: Fixture.at(2))
        _ = try await store.transition(commandId: "a4", to: .cancelled, reason: nil, now: Fixture.at(2))
        _ = try await store.transition(commandId: "o1", to: .cancelled, reason: nil, now: Fixture.at(2))

        #expect(try await store.pendingCommandCounts(agentIds: [agent.id, other.id, "ag_nobody"]) == [agent.id: 3])
        #expect(try await store.pendingCommandCounts(agentIds: []) == [:])
        // Far more ids than SQLite binds variables for: they travel as one JSON array.
        let many = (0..<40_000).map { "ag_\($0)" } + [agent.id]
        #expect(try await store.pendingCommandCounts(agentIds: many) == [agent.id: 3])
    }

    @Test(arguments: StoreBackend.allCases) func insertWithPendingLimitRefusesTheWholeBatch(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let other = try await Fixture.agent(store, key: "key-2", name: "other")
        try await store.insertCommands([Fixture.command("a1", agent: agent.id), Fixture.command("a2", agent: agent.id)], maxPendingPerAgent: 2)
        await #expect(throws: StoreError.tooManyPending(limit: 2, counts: [agent.id: 2])) {
            try await store.insertCommands([Fixture.command("o1", agent: other.id), Fixture.command("a3", agent: agent.id)], maxPendingPerAgent: 2)
        }
        await #expect(throws: StoreError.tooManyPending(limit: 2, counts: [other.id: 0])) {
            try await store.insertCommands((1...3).map { Fixture.command("o\($0)", agent: other.id) }, maxPendingPerAgent: 2)
        }
        #expect(try await store.commands(agentId: nil, limit: 10).map(\.id).sorted() == ["a1", "a2"])
        _ = try await store.transition(commandId: "a1", to: .cancelled, reason: nil, now: Fixture.at(1))
        try await store.insertCommands([Fixture.command("o1", agent: other.id), Fixture.command("a3", agent: agent.id)], maxPendingPerAgent: 2)
        #expect(try await store.pendingCommandCounts(agentIds: [agent.id, other.id]) == [agent.id: 2, other.id: 1])
    }

    @Test(arguments: StoreBackend.allCases) func auditEntryIsStoredWithTheCommandsOrNotAtAll(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let entry = AuditEntry(at: Fixture.t0, actor: "ops", role: "operator", action: "commands.run", targets: [agent.id], detail: "batch b_1", remote: "127.0.0.1:5")
        try await store.insertCommands([Fixture.command("a1", agent: agent.id)], maxPendingPerAgent: 1, audit: entry)
        // Refused as a whole: neither the commands nor their audit entry.
        await #expect(throws: StoreError.tooManyPending(limit: 1, counts: [agent.id: 1])) {
            try await store.insertCommands([Fixture.command("a2", agent: agent.id)], maxPendingPerAgent: 1, audit: entry)
        }
        await #expect(throws: StoreError.notFound("agent 'ag_nobody'")) {
            try await store.insertCommands([Fixture.command("n1", agent: "ag_nobody")], maxPendingPerAgent: nil, audit: entry)
        }
        let log = try await Fixture.auditLog(store).filter { $0.action == "commands.run" }
        #expect(log.count == 1)
        #expect(log.first?.detail == "batch b_1" && log.first?.targets == [agent.id])
        #expect(try await store.commands(agentId: nil, limit: 10).map(\.id) == ["a1"])
    }

    @Test(arguments: StoreBackend.allCases) func aCommandCreatedSentKeepsBothStepsAndOtherStatesAreRefused(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        var sent = Fixture.command("s1", agent: agent.id)
        sent.state = .sent
        sent.reason = "epoch 3"
        try await store.insertCommands([sent, Fixture.command("q1", agent: agent.id)])
        #expect(try await store.command(id: "s1")?.state == .sent)
        #expect(try await store.events(commandId: "s1").map { "\($0.state.rawValue) \($0.reason ?? "-")" } == ["queued -", "sent epoch 3"])
        #expect(try await store.events(commandId: "q1").map(\.state) == [.queued])
        #expect(try await store.undeliveredCommands(agentId: agent.id).map(\.id).sorted() == ["q1", "s1"])
        var done = Fixture.command("d1", agent: agent.id)
        done.state = .succeeded
        await #expect(throws: StoreError.conflict("command 'd1' cannot be created in state succeeded")) {
            try await store.insertCommands([done])
        }
        #expect(try await store.command(id: "d1") == nil)
    }
}
