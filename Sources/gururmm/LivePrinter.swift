import Foundation
import RMMAPI
import RMMProtocol

/// Prints streamed output line by line, each prefixed with its agent's name.
///
/// Chunks are placed by their offset: bytes already printed are never printed again (a stream
/// may repeat a chunk), and a gap is said as such. An unfinished line is held up to
/// `maxPartialBytes`, then printed as it is, so output without newlines from 10,000 agents cannot
/// make the CLI hold each agent's whole output.
final class LivePrinter {
    /// Longest unfinished line held per command and stream before it is printed anyway.
    static let maxPartialBytes = 4096
    /// The largest output cap a config may set (`AgentConfig.problems`): no stream is longer.
    static let largestOutputCap = 8 << 20
    private let enabled: Bool
    private let prefixes: [String: String]
    private var partial: [String: Data] = [:]
    /// The prefix of each held unfinished line (its chunk's agent name, when it had one).
    private var partialPrefix: [String: String] = [:]
    /// Per command and stream: the offset of the next byte not yet taken.
    private var nextOffset: [String: Int] = [:]
    /// Lines printed but not yet written, per stream: written when the answer's bytes so far are
    /// all handled (`flushOutput`), or at 64 KiB — one write for many agents' lines, not one each.
    /// (Within one such batch a stderr line may come out after a stdout line stored later.)
    private var pending: (stdout: [UInt8], stderr: [UInt8]) = ([], [])
    private static let pendingLimit = 64 << 10

    /// Where printed lines are written: standard output or error.
    private let sink: (StdStream, Data) -> Void

    init(enabled: Bool, prefixes: [String: String], sink: @escaping (StdStream, Data) -> Void = LivePrinter.standardStreams) {
        self.sink = sink
        self.enabled = enabled
        self.prefixes = prefixes
    }

    func print(_ chunk: OutputView) {
        guard enabled, chunk.offset >= 0 else { return }
        let prefix = chunk.agent ?? prefixes[chunk.commandId] ?? chunk.commandId
        let key = chunk.commandId + "/" + chunk.stream.rawValue
        let expected = nextOffset[key, default: 0]
        let end = chunk.offset.addingReportingOverflow(chunk.data.count)
        guard !end.overflow, end.partialValue > expected else { return }
        var fresh = chunk.data
        if chunk.offset < expected {
            fresh = chunk.data.suffix(end.partialValue - expected)
        } else if chunk.offset - expected > Self.largestOutputCap {
            // No stream holds more than the largest output cap: this offset is not output.
            return
        } else if chunk.offset > expected {
            flush(key: key, prefix: prefix, stream: chunk.stream)
            emit(Data("… \(chunk.offset - expected) bytes of output not received …".utf8)[...], prefix: prefix, stream: chunk.stream)
        }
        nextOffset[key] = end.partialValue
        let joined = partial[key, default: Data()] + fresh
        // Walk the lines in place; only the unfinished tail is copied, once.
        var start = joined.startIndex
        while let newline = joined[start...].firstIndex(of: 0x0A) {
            emit(joined[start..<newline], prefix: prefix, stream: chunk.stream)
            start = joined.index(after: newline)
        }
        var buffer = Data(joined[start...])
        if buffer.count > Self.maxPartialBytes {
            // Cut where no UTF-8 character is split; the rest waits for the next chunk.
            let cut = Self.completeUTF8Prefix(buffer)
            emit(buffer[..<cut], prefix: prefix, stream: chunk.stream)
            buffer = Data(buffer[cut...])
        }
        partial[key] = buffer
        if !buffer.isEmpty { partialPrefix[key] = prefix }
    }

    /// The end of the longest prefix of `data` that splits no UTF-8 sequence.
    static func completeUTF8Prefix(_ data: Data) -> Data.Index {
        var lead = data.endIndex
        // The last byte that starts a character, among the last four.
        while lead > data.startIndex, data.endIndex - lead < 4 {
            lead -= 1
            if data[lead] & 0xC0 != 0x80 { break }
        }
        guard lead < data.endIndex else { return data.endIndex }
        let first = data[lead]
        let length = first < 0x80 ? 1 : first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 1
        return data.endIndex - lead >= length ? data.endIndex : lead
    }

    private func flush(key: String, prefix: String, stream: StdStream) {
        if let data = partial.removeValue(forKey: key), !data.isEmpty { emit(data[...], prefix: prefix, stream: stream) }
    }

    static func standardStreams(_ stream: StdStream, _ data: Data) {
        (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(data)
    }

    /// Runs `follow` with this printer's flush and print, then prints every held line — also when
    /// `follow` fails, so output that arrived before a broken stream is not lost.
    func printing<T>(_ follow: (_ drained: () -> Void, _ print: (OutputView) -> Void) async throws -> T) async throws -> T {
        defer { flushAll() }
        return try await follow(flushOutput, print)
    }

    /// Prints every held line, finished or not, and writes everything printed.
    func flushAll() {
        for (key, data) in partial where !data.isEmpty {
            let parts = key.split(separator: "/")
            guard parts.count == 2, let stream = StdStream(rawValue: String(parts[1])) else { continue }
            let commandId = String(parts[0])
            emit(data[...], prefix: partialPrefix[key] ?? prefixes[commandId] ?? commandId, stream: stream)
        }
        partial.removeAll()
        partialPrefix.removeAll()
        flushOutput()
    }

    /// Writes the lines printed so far.
    func flushOutput() {
        if !pending.stdout.isEmpty { sink(.stdout, Data(pending.stdout)) }
        if !pending.stderr.isEmpty { sink(.stderr, Data(pending.stderr)) }
        pending = ([], [])
    }

    private func emit(_ line: Data.SubSequence, prefix: String, stream: StdStream) {
        if stream == .stdout { Self.append(line, prefix: prefix, to: &pending.stdout) } else { Self.append(line, prefix: prefix, to: &pending.stderr) }
        if pending.stdout.count + pending.stderr.count >= Self.pendingLimit { flushOutput() }
    }

    /// `[prefix] line` and a newline; a line that is not ASCII goes through `String` so that
    /// invalid UTF-8 is printed as U+FFFD, as everywhere else.
    private static func append(_ line: Data.SubSequence, prefix: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        out.append(contentsOf: prefix.utf8)
        out.append(contentsOf: "] ".utf8)
        if line.allSatisfy({ $0 < 0x80 }) {
            out.append(contentsOf: line)
        } else {
            out.append(contentsOf: String(decoding: line, as: UTF8.self).utf8)
        }
        out.append(UInt8(ascii: "\n"))
    }
}
