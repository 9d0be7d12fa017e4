import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore
import Synchronization
import Testing
@testable import RMMServer

/// The streamed batch answers, read straight from `BatchStreams` over a real store.
@Suite struct BatchStreamTests {
    /// Collects a streamed response body.
    private final class Collected: Sendable {
        let bytes = Mutex(Data())
    }

    private struct Collector: ResponseBodyWriter {
        let into: Collected
        /// Runs once, before the first write goes out, with the number of lines in it.
        var onFirstWrite: (@Sendable (Int) async throws -> Void)?
        mutating func write(_ buffer: ByteBuffer) async throws {
            if let first = onFirstWrite {
                onFirstWrite = nil
                try await first(buffer.readableBytesView.count(where: { $0 == 0x0A }))
            }
            into.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    private func core(_ store: any Store) -> ServerCore {
        let feed = ChangeFeed()
        let settings = ServerSettings()
        let registry = SessionRegistry(store: store, feed: feed, settings: settings, config: .defaults, signer: Fixture.signer, logger: Fixture.quietLogger)
        let commands = CommandService(store: store, registry: registry, feed: feed, settings: settings, logger: Fixture.quietLogger)
        return ServerCore(store: store, registry: registry, commands: commands, feed: feed, settings: settings, enrollTrust: nil, logger: Fixture.quietLogger)
    }

    private func lines(of response: Response, onFirstWrite: (@Sendable (Int) async throws -> Void)? = nil) async throws -> [BatchStreamLine] {
        let collected = Collected()
        try await response.body.write(Collector(into: collected, onFirstWrite: onFirstWrite))
        let body = collected.bytes.withLock { $0 }
        return try body.split(separator: 0x0A).map { try APICoding.decoder().decode(BatchStreamLine.self, from: Data($0)) }
    }

    @Test("a command whose output is stored while a round pages through the batch comes round again on a later page, and its output is written once")
    func outputWrittenOnceWhenACommandChangesMidRound() async throws {
        let (store, agents) = try await Fixture.store()
        // More than one page, every command running with one line of output.
        let ids = (0..<(BatchStreams.commandPage + 40)).map { String(format: "c%04d", $0) }
        try await Fixture.insert(ids, agent: agents[0].id, into: store)
        for id in ids {
            _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1))
            _ = try await store.transition(commandId: id, to: .running, reason: nil, now: Fixture.at(2))
            #expect(try await store.appendOutput(commandId: id, stream: .stdout, offset: 0, data: Data("\(id)\n".utf8), cap: 1 << 20))
        }
        // The first command (on the first page) writes more while the stream writes that page's
        // lines (its first write: a page of command lines is more than one write's worth): its
        // version moves past the round's, so the next pages meet it again.
        let firstWriteLines = Mutex<Int?>(nil)
        let response = try await BatchStreams.events(core(store), batchId: "b1", after: 0, wait: 0, output: true, terminalOnly: false)
        let read = try await lines(of: response) { (written: Int) async throws in
            firstWriteLines.withLock { $0 = written }
            #expect(try await store.appendOutput(commandId: ids[0], stream: .stdout, offset: 6, data: Data("more\n".utf8), cap: 1 << 20))
        }
        let firstWrite = try #require(firstWriteLines.withLock { $0 })
        #expect(firstWrite < BatchStreams.commandPage, "the output was stored while the first page's lines were written, before the next page was read")
        let chunks = read.compactMap(\.output).map { "\($0.commandId)/\($0.stream.rawValue)@\($0.offset)" }
        #expect(chunks.count == ids.count, "every first line once")
        #expect(Set(chunks).count == chunks.count, "no chunk twice: \(Dictionary(grouping: chunks, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted())")
        #expect(read.last?.end != nil)

        // The next round, from the version the first one ended at, brings the new output once.
        let next = try #require(read.last?.end?.version)
        let later = try await lines(of: try await BatchStreams.events(core(store), batchId: "b1", after: next, wait: 0, output: true, terminalOnly: false))
        #expect(later.compactMap(\.output).map { "\($0.commandId)@\($0.offset)" } == ["\(ids[0])@6"])
    }

    @Test("a compact events stream, read by the CLI's decoder, carries the full stream's values of every command and output, across pages")
    func compactLinesMatchTheFullForm() async throws {
        let (store, agents) = try await Fixture.store(agents: ["web-1", "db-2"])
        let ids = (0..<(BatchStreams.commandPage + 30)).map { String(format: "c%04d", $0) }
        for (index, id) in ids.enumerated() {
            try await Fixture.insert([id], agent: agents[index % 2].id, into: store)
        }
        let outcomes = [CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("sim\n".utf8)),
                        CommandOutcome(state: .failed, reason: "exit status 3", exitCode: 3, stderr: Data("bad \"quote\" é\n".utf8)),
                        CommandOutcome(state: .failed, reason: "killed by \"KILL\" (9)", signal: 9), CommandOutcome(state: .timedOut, reason: "ran past 30 s")]
        for (index, id) in ids.enumerated() {
            _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1))
            guard index % 5 != 4 else { continue }  // some still sent: terminal=true leaves them out
            _ = try await store.transition(commandId: id, to: .running, reason: nil, now: Fixture.at(2))
            _ = try await store.finish(commandId: id, outcome: outcomes[index % outcomes.count], now: Fixture.at(3))
        }
        func read(terminal: Bool, view: BatchStreamView) async throws -> [BatchStreamLine] {
            let response = try await BatchStreams.events(core(store), batchId: "b1", after: 0, wait: 0, output: true, terminalOnly: terminal, view: view)
            let collected = Collected()
            try await response.body.write(Collector(into: collected))
            // Decoded as the CLI decodes a line: the fast path, else Foundation.
            return try collected.bytes.withLock { $0 }.split(separator: 0x0A).map { line in
                try BatchLineCodec.decode(Data(line)) ?? APICoding.decoder().decode(BatchStreamLine.self, from: Data(line))
            }
        }
        for terminal in [true, false] {
            let full = try await read(terminal: terminal, view: .full), compact = try await read(terminal: terminal, view: .compact)
            #expect(compact.allSatisfy { $0.command == nil } && full.allSatisfy { $0.brief == nil })
            #expect(compact.compactMap(\.brief) == full.compactMap(\.command).map(CommandBrief.init), "terminal=\(terminal)")
            #expect(compact.compactMap(\.brief).count == (terminal ? ids.count - ids.count / 5 : ids.count))
            let names = Dictionary(uniqueKeysWithValues: full.compactMap(\.command).map { ($0.id, $0.agent) })
            let fullOutput = full.compactMap(\.output), compactOutput = compact.compactMap(\.output)
            #expect(!fullOutput.isEmpty && compactOutput.count == fullOutput.count)
            for (f, c) in zip(fullOutput, compactOutput) {
                #expect(f.agent == nil && c.agent != nil && c.agent == names[c.commandId] ?? nil)
                #expect(c.commandId == f.commandId && c.stream == f.stream && c.offset == f.offset && c.data == f.data)
            }
            #expect(compact.last?.end?.commands == full.last?.end?.commands && compact.last?.end?.version == full.last?.end?.version)
        }
    }

    @Test("results give every command its own whole output, in creation order, across pages and output reads of any size")
    func resultsCarryEachCommandsWholeOutput() async throws {
        let (store, agents) = try await Fixture.store()
        let ids = (0..<(BatchStreams.commandPage + 40)).map { String(format: "c%04d", $0) }
        try await Fixture.insert(ids, agent: agents[0].id, into: store)
        // Every third command without output; one whose output alone is past a read's bytes.
        let big = ids[7]
        var expected: [String: (String, String)] = [:]
        for (index, id) in ids.enumerated() {
            _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1))
            _ = try await store.transition(commandId: id, to: .running, reason: nil, now: Fixture.at(2))
            guard index % 3 != 0 else { expected[id] = ("", ""); continue }
            let stdout = id == big ? String(repeating: "x", count: BatchStreams.outputBytesPerRead + 10) : "\(id) out\n"
            #expect(try await store.appendOutput(commandId: id, stream: .stdout, offset: 0, data: Data(stdout.utf8), cap: 8 << 20))
            #expect(try await store.appendOutput(commandId: id, stream: .stderr, offset: 0, data: Data("\(id) err".utf8), cap: 8 << 20))
            expected[id] = (stdout, "\(id) err")
        }
        let read = try await lines(of: try await BatchStreams.results(core(store), batchId: "b1", output: true))
        let commands = read.compactMap(\.command)
        #expect(commands.map(\.id) == ids)
        for view in commands {
            let want = try #require(expected[view.id])
            #expect(view.stdout == want.0 && view.stderr == want.1, "output of \(view.id)")
        }
        #expect(read.last?.end?.commands == ids.count)
    }

    @Test("a big batch's stream reads what changed every spreadReadsEvery while it runs; a small one every round")
    func bigBatchesReadChangesLessOften() {
        let start = ContinuousClock.now
        let soon = start + .milliseconds(20), later = start + BatchStreams.spreadReadsEvery
        #expect(BatchStreams.readsNow(pending: BatchStreams.spreadReadsFrom - 1, lastRead: start, now: soon))
        #expect(!BatchStreams.readsNow(pending: BatchStreams.spreadReadsFrom, lastRead: start, now: soon))
        #expect(BatchStreams.readsNow(pending: BatchStreams.spreadReadsFrom, lastRead: start, now: later))
    }

    @Test("a big batch's stream that skipped a read sends those changes when the read is due, even if nothing changes after them")
    func skippedReadIsDoneWhenDue() async throws {
        let (store, agents) = try await Fixture.store()
        let ids = (0..<(BatchStreams.spreadReadsFrom + 1)).map { String(format: "c%05d", $0) }
        _ = try await Fixture.insert(ids, agent: agents[0].id, into: store)
        let server = core(store)
        let clock = ContinuousClock()
        let start = clock.now
        let firstWrite = Mutex<(lines: Int, after: Duration)?>(nil)
        // Nothing changes after the stream starts, so the feed never wakes it: only the due read
        // can send the commands before the 120 s wait is over (it is due after 0.25 s; the bound
        // below leaves room for a machine busy with the rest of the suite). The first write then
        // stops the feed, which ends the stream.
        let response = try await BatchStreams.events(server, batchId: "b1", after: 0, wait: 120, output: true, terminalOnly: false)
        let read = try await lines(of: response) { (written: Int) async throws in
            firstWrite.withLock { $0 = (written, clock.now - start) }
            server.feed.stop()
        }
        let first = try #require(firstWrite.withLock { $0 })
        #expect(first.after < .seconds(60), "the skipped changes waited for the deadline: \(first.after)")
        #expect(first.lines > 0)
        #expect(read.compactMap(\.command).map(\.id).sorted() == ids)
        #expect(read.last?.end?.done == false)
    }
}
