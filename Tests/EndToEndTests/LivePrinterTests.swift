import Foundation
import RMMAPI
import RMMProtocol
import Synchronization
import Testing
@testable import gururmm

/// `gururmm run`'s live output: a long line without a newline is printed in pieces that never
/// split a UTF-8 character.
@Suite struct LivePrinterTests {
    @Test("the cut of an over-long unfinished line keeps every UTF-8 character whole", arguments: ["a", "é", "€", "𝄞"])
    func cutKeepsCharactersWhole(_ character: String) {
        let unit = Data(character.utf8)
        for missing in 0..<unit.count {
            // Whole characters, then one character cut `missing` bytes short.
            let whole = Data(repeating: 0x61, count: 4095) + unit
            let data = whole + unit.prefix(unit.count - missing)
            let cut = LivePrinter.completeUTF8Prefix(data)
            if missing == 0 {
                #expect(cut == data.endIndex)
            } else {
                #expect(cut == whole.endIndex, "\(character) cut \(missing) short")
            }
            #expect(String(data: data[..<cut], encoding: .utf8) != nil)
        }
    }
}

/// Output that arrived before the batch stream broke is printed, not lost with the error.
@Suite struct LivePrinterFailureTests {
    struct Broken: Error {}

    @Test("lines taken before the stream fails are written, the unfinished one included")
    func printedBeforeFailure() async throws {
        let written = Mutex<[(StdStream, String)]>([])
        let printer = LivePrinter(enabled: true, prefixes: ["c1": "alpha"]) { stream, data in
            written.withLock { $0.append((stream, String(decoding: data, as: UTF8.self))) }
        }
        await #expect(throws: Broken.self) {
            let _: Int = try await printer.printing { _, print in
                print(OutputView(commandId: "c1", stream: .stdout, offset: 0, data: Data("one\ntwo".utf8)))
                throw Broken()
            }
        }
        let text = written.withLock { $0.filter { $0.0 == .stdout }.map(\.1).joined() }
        #expect(text == "[alpha] one\n[alpha] two\n")
    }
}

/// The names `gururmm run` prints by when the stream, not the run's answer, names each agent.
@Suite struct RunNamesFromStreamTests {
    @Test("a chunk's own agent name prefixes its lines, held tails included; invalid UTF-8 still prints as U+FFFD")
    func chunkNamesItsAgent() {
        let written = Mutex<[(StdStream, String)]>([])
        let printer = LivePrinter(enabled: true, prefixes: [:]) { stream, data in
            written.withLock { $0.append((stream, String(decoding: data, as: UTF8.self))) }
        }
        printer.print(OutputView(agent: "web-1", commandId: "c1", stream: .stdout, offset: 0, data: Data("one\ntw".utf8)))
        printer.print(OutputView(agent: "db-2", commandId: "c2", stream: .stderr, offset: 0, data: Data([0x62, 0xFF, 0x0A])))
        printer.print(OutputView(commandId: "c3", stream: .stdout, offset: 0, data: Data("anon\n".utf8)))
        printer.flushAll()
        let out = written.withLock { $0.filter { $0.0 == .stdout }.map(\.1).joined() }
        let err = written.withLock { $0.filter { $0.0 == .stderr }.map(\.1).joined() }
        #expect(out == "[web-1] one\n[c3] anon\n[web-1] tw\n")
        #expect(err == "[db-2] b\u{FFFD}\n")
    }

    static func brief(_ id: String, agent: String?, agentId: String, _ state: CommandState = .succeeded) -> CommandBrief {
        CommandBrief(id: id, agentId: agentId, agent: agent, state: state, exitCode: state == .succeeded ? 0 : 1, reason: nil)
    }

    @Test("without the run's list, results come in --all's creation order (agent name, then id) and a missing end is an error")
    func orderWithoutTheList() throws {
        let finals = ["c1": Self.brief("c1", agent: "web-2", agentId: "a1"), "c2": Self.brief("c2", agent: "db-1", agentId: "a9", .failed),
                      "c3": Self.brief("c3", agent: nil, agentId: "a0"), "c4": Self.brief("c4", agent: "web-2", agentId: "a0")]
        let counted = RunResponse(batchId: "b", commands: [], commandCount: 4)
        #expect(try RunCommand.inOrder(finals, created: counted).map(\.id) == ["c3", "c2", "c4", "c1"])
        #expect(throws: GuruAPIError.self) { try RunCommand.inOrder(finals, created: RunResponse(batchId: "b", commands: [], commandCount: 5)) }
        // With the list (a server that ignores list_commands, or --agent), its order.
        let listed = RunResponse(batchId: "b", commands: ["c4", "c1", "c3", "c2"].map { .init(commandId: $0, agentId: "x", agent: "x") })
        #expect(try RunCommand.inOrder(finals, created: listed).map(\.id) == ["c4", "c1", "c3", "c2"])
        let missing = RunResponse(batchId: "b", commands: [.init(commandId: "c5", agentId: "x", agent: "x")])
        #expect(throws: GuruAPIError.self) { try RunCommand.inOrder(finals, created: missing) }
    }
}
