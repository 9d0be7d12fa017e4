import Foundation
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
