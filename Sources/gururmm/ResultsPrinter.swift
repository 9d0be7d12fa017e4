import Foundation
import RMMAPI

/// Prints `{"results": [...]}` exactly as one pretty-printed encoding would, an item at a time.
final class ResultsPrinter {
    private var count = 0
    private let encoder: JSONEncoder = {
        let encoder = APICoding.encoder()
        encoder.outputFormatting.insert(.prettyPrinted)
        return encoder
    }()

    init() {
        FileHandle.standardOutput.write(Data("{\n  \"results\" : [\n".utf8))
    }

    func item(_ item: RunResults.Item) throws {
        let text = String(decoding: try encoder.encode(item), as: UTF8.self)
        // Pretty-printed JSON has newlines only between tokens (strings escape theirs), so
        // indenting every line nests the item by two levels.
        let indented = text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        FileHandle.standardOutput.write(Data(((count > 0 ? ",\n" : "") + indented).utf8))
        count += 1
    }

    func finish() {
        FileHandle.standardOutput.write(Data("\n  ]\n}\n".utf8))
    }
}
