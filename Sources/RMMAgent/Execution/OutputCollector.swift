import Foundation
import RMMProtocol

/// Keeps one stream's output within the cap and cuts what it keeps into live chunks.
///
/// Bytes past the cap are counted as dropped, never buffered: the child keeps its pipe drained
/// (so it cannot block on a full pipe) while the agent's memory stays bounded.
struct OutputCollector {
    let commandId: String
    let stream: StdStream
    let cap: Int
    let chunkBytes: Int
    private(set) var kept = Data()
    private(set) var truncated = false

    init(commandId: String, stream: StdStream, cap: Int, chunkBytes: Int) {
        self.commandId = commandId
        self.stream = stream
        self.cap = max(0, cap)
        self.chunkBytes = max(1, chunkBytes)
    }

    /// Takes newly read bytes; returns the chunks to publish now (offsets continue from earlier ones).
    mutating func append(_ bytes: Data) -> [CommandOutput] {
        let room = cap - kept.count
        if bytes.count > room { truncated = true }
        let accepted = bytes.prefix(max(0, room))
        guard !accepted.isEmpty else { return [] }
        var chunks: [CommandOutput] = []
        var start = accepted.startIndex
        while start < accepted.endIndex {
            let end = accepted.index(start, offsetBy: chunkBytes, limitedBy: accepted.endIndex) ?? accepted.endIndex
            chunks.append(CommandOutput(commandId: commandId, stream: stream, offset: kept.count + (start - accepted.startIndex), data: Data(accepted[start..<end])))
            start = end
        }
        kept.append(accepted)
        return chunks
    }
}
