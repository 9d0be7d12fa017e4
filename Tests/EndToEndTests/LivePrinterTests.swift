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
