import Crypto
import Foundation
import RMMProtocol
import Testing

@Suite("Hex")
struct HexTests {
    @Test func everyByteMatchesPrintfLowercase() {
        let all = (0...255).map { UInt8($0) }
        #expect(Hex.encode(all) == all.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test func digestsAreSixtyFourLowercaseDigits() {
        let digest = Hex.encode(SHA256.hash(data: Data("abc".utf8)))
        #expect(digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
