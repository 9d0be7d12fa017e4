import Foundation
import RMMAPI

/// What one line of a streamed batch answer costs to write (server) and read (CLI), with
/// Foundation's coders and with `BatchLineCodec`, timed side by side in this process: the lines an
/// events stream carries for `agents` agents (a finished command and its `sim\n` output each).
enum LineCodecCost {
    struct Result {
        var lines: Int
        var foundationEncode: Double
        var fastEncode: Double
        var foundationDecode: Double
        var fastDecode: Double
    }

    static func measure(agents: Int) throws -> Result {
        let now = Date()
        var lines: [BatchStreamLine] = []
        for index in 0..<agents {
            let id = String(format: "c_%016x", index), agent = String(format: "a_%016x", index)
            lines.append(BatchStreamLine(command: CommandView(
                id: id, agentId: agent, agent: "sim-\(index)", batchId: "b_0123456789abcdef", kind: .shell, text: "true", interpreter: nil,
                state: .succeeded, terminal: true, reason: nil, exitCode: 0, signal: nil, createdAt: now, updatedAt: now,
                expiresAt: now.addingTimeInterval(120), timeoutSeconds: 60, createdBy: "t_admin", stdoutTruncated: false,
                stderrTruncated: false, stdout: nil, stderr: nil)))
            lines.append(BatchStreamLine(output: OutputView(commandId: id, stream: .stdout, offset: 0, data: Data("sim\n".utf8))))
        }
        let encoder = APICoding.encoder(), decoder = APICoding.decoder()
        let clock = ContinuousClock()
        var encoded: [Data] = []
        encoded.reserveCapacity(lines.count)
        let foundationEncode = try clock.measure { for line in lines { encoded.append(try encoder.encode(line)) } }
        var fastBytes = 0
        let fastEncode = clock.measure { for line in lines { fastBytes &+= BatchLineCodec.encode(line)?.count ?? 0 } }
        var read = 0
        let foundationDecode = try clock.measure { for data in encoded { if try decoder.decode(BatchStreamLine.self, from: data).end == nil { read += 1 } } }
        let fastDecode = clock.measure { for data in encoded where BatchLineCodec.decode(data) != nil { read += 1 } }
        guard read == 2 * lines.count, fastBytes == encoded.reduce(0, { $0 + $1.count }) else {
            throw BenchError("the batch line fast path declined lines of the plain shape (\(read) of \(2 * lines.count) read)")
        }
        let perLine = { (duration: Duration) in duration.seconds / Double(lines.count) }
        return Result(lines: lines.count, foundationEncode: perLine(foundationEncode), fastEncode: perLine(fastEncode),
                      foundationDecode: perLine(foundationDecode), fastDecode: perLine(fastDecode))
    }
}
