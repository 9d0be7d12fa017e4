import Foundation
import RMMServer

/// Follows one batch over the streamed batch routes: a bounded number of requests whatever the
/// batch's size (one per 25 s of waiting, plus one for the results).
struct BatchFollower {
    let client: APIClient
    let batchId: String
    /// Seconds each events request may wait for changes: a stream stays silent at most this long,
    /// well under the idle read timeouts of the proxies operators put in front of the API
    /// (nginx's `proxy_read_timeout` defaults to 60 s, Cloudflare's to 100 s).
    static let wait = 25
    /// Seconds without a byte before a streamed answer counts as lost: the server writes the
    /// end line when its wait is over.
    static let idle = 55.0

    /// Streams the batch's changes until it is done; `onOutput` gets each piece of output (with
    /// `output`) as it is stored, and `drained` is called when what has arrived is all handed over.
    /// Returns the last view of every command that ended.
    func follow(output: Bool, drained: () -> Void = {}, onOutput: (OutputView) -> Void) async throws -> [String: CommandView] {
        var after = 0
        var finals: [String: CommandView] = [:]
        while true {
            var end: BatchStreamEnd?
            try await client.streamLines(
                "/api/v1/batches/\(pathEscape(batchId))/events?after=\(after)&wait=\(Self.wait)&output=\(output)&terminal=true",
                as: BatchStreamLine.self, idleTimeout: Self.idle, fastDecode: BatchLineCodec.decode, drained: drained
            ) { line in
                if let view = line.command { finals[view.id] = view }
                if let chunk = line.output { onOutput(chunk) }
                if let last = line.end { end = last }
            }
            guard let end else { throw APIError(status: 0, message: "the API's change stream for batch \(batchId) ended without its end line") }
            after = end.version
            if end.done { return finals }
        }
    }

    /// Streams every command of the batch in creation order with its whole output.
    func results(_ each: (CommandView) throws -> Void) async throws {
        var ended = false
        try await client.streamLines(
            "/api/v1/batches/\(pathEscape(batchId))/results", as: BatchStreamLine.self, idleTimeout: Self.idle, fastDecode: BatchLineCodec.decode
        ) { line in
            if let view = line.command { try each(view) }
            if line.end != nil { ended = true }
        }
        guard ended else { throw APIError(status: 0, message: "the API's results for batch \(batchId) ended without their end line") }
    }
}

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
