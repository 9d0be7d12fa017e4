import NIOCore
import Testing

@testable import RMMTestSupport

/// Runs `chunks` through a fresh filter, with `modeFor(index)` the mode in force for each chunk,
/// and returns the concatenated output and the filter's counts.
private func filter(
    _ chunks: [ByteBuffer], direction: FaultDirection, modeFor: (Int) -> FaultMode
) -> (output: [UInt8], counts: FrameCounts) {
    let statistics = FrameStatistics()
    var filter = FrameFilter(statistics: statistics)
    var output: [UInt8] = []
    for (index, chunk) in chunks.enumerated() {
        if let bytes = filter.process(chunk, mode: modeFor(index), direction: direction) {
            output.append(contentsOf: bytes.readableBytesView)
        }
    }
    return (output, statistics.snapshot)
}

/// The same, with one mode throughout and the stream split at every position in turn.
private func expectEverySplit(
    _ stream: [UInt8], direction: FaultDirection, mode: FaultMode, produce expected: [UInt8],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for cut in 0...stream.count {
        let result = filter(split(stream, at: [cut]), direction: direction) { _ in mode }
        #expect(result.output == expected, "cut at \(cut)", sourceLocation: sourceLocation)
    }
}

private let mask: [UInt8] = [0xA1, 0xB2, 0xC3, 0xD4]

@Suite("FrameFilter")
struct FrameFilterTests {
    @Test("pass forwards any stream unchanged, WebSocket or not")
    func passIsTransparent() {
        let stream = upgradeResponse + [WireFrame.text("a"), .binary(count: 300), .ping("p")].flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: .pass, produce: stream)
        let plain = Array("just bytes\r\n\r\nmore".utf8)
        expectEverySplit(plain, direction: .uplink, mode: .dropDownlinkData, produce: plain)
    }

    @Test("dropDownlinkData drops server data frames and keeps control frames")
    func dropDownlinkData() {
        let close = WireFrame(opcode: 0x8, payload: [0x03, 0xE8])
        let frames: [WireFrame] = [
            .text("command"), .ping("p1"), .binary(count: 200),
            WireFrame(fin: false, opcode: 0x1, payload: [1]), WireFrame(opcode: 0xA, payload: []), WireFrame(opcode: 0x0, payload: [2]),
            close,
        ]
        let stream = upgradeResponse + frames.flatMap(\.bytes)
        let expected = upgradeResponse + WireFrame.ping("p1").bytes + WireFrame(opcode: 0xA, payload: []).bytes + close.bytes
        expectEverySplit(stream, direction: .downlink, mode: .dropDownlinkData, produce: expected)
        let counts = filter([ByteBuffer(bytes: stream)], direction: .downlink) { _ in .dropDownlinkData }.counts
        #expect(counts.droppedDownlink == 4)
        #expect(counts.forwardedDownlink == 3)
        // Uplink is untouched.
        let uplink = upgradeRequest + frames.map { var masked = $0; masked.maskKey = mask; return masked }.flatMap(\.bytes)
        expectEverySplit(uplink, direction: .uplink, mode: .dropDownlinkData, produce: uplink)
    }

    @Test("dropDownlinkText drops text messages, fragments included, and passes binary")
    func dropDownlinkText() {
        let binaryStart = WireFrame(fin: false, opcode: 0x2, payload: [9])
        let binaryEnd = WireFrame(opcode: 0x0, payload: [8])
        let frames: [WireFrame] = [
            .text("t"), WireFrame(fin: false, opcode: 0x1, payload: [1]), .ping("mid"), WireFrame(opcode: 0x0, payload: [2]),
            binaryStart, binaryEnd, .binary(count: 4),
        ]
        let stream = upgradeResponse + frames.flatMap(\.bytes)
        let expected = upgradeResponse + [WireFrame.ping("mid"), binaryStart, binaryEnd, .binary(count: 4)].flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: .dropDownlinkText, produce: expected)
    }

    @Test("dropFramesLargerThan drops large data frames both ways and passes small and control frames")
    func dropLargeFrames() {
        let mode = FaultMode.dropFramesLargerThan(1000)
        let small = WireFrame.binary(count: 500, mask: mask)
        let limit = WireFrame.binary(count: 1000, mask: mask)
        let large = WireFrame.binary(count: 2000, mask: mask)
        let ping = WireFrame.ping("p", mask: mask)
        let uplink = upgradeRequest + [small, large, ping, limit].flatMap(\.bytes)
        expectEverySplit(uplink, direction: .uplink, mode: mode, produce: upgradeRequest + [small, ping, limit].flatMap(\.bytes))
        let downlink = upgradeResponse + [WireFrame.binary(count: 2000), .text("ok")].flatMap(\.bytes)
        expectEverySplit(downlink, direction: .downlink, mode: mode, produce: upgradeResponse + WireFrame.text("ok").bytes)
    }

    @Test("corruptDownlinkDataFrame replaces exactly one payload, after N data frames", arguments: [nil, mask])
    func corruptOnce(frameMask: [UInt8]?) {
        let frames: [WireFrame] = [
            .text(#"{"n":0}"#, mask: frameMask), .ping("p", mask: frameMask), .text(#"{"n":1}"#, mask: frameMask),
            .text(#"{"n":2}"#, mask: frameMask),
        ]
        var corrupted = frames
        corrupted[2].payload = Array(repeating: UInt8(ascii: "#"), count: frames[2].payload.count)
        let stream = upgradeResponse + frames.flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: .corruptDownlinkDataFrame(after: 1), produce: upgradeResponse + corrupted.flatMap(\.bytes))
        let counts = filter([ByteBuffer(bytes: stream)], direction: .downlink) { _ in .corruptDownlinkDataFrame(after: 1) }.counts
        #expect(counts.corrupted == 1)
        #expect(counts.forwardedDownlink == 4)
        // Never uplink.
        expectEverySplit(stream, direction: .uplink, mode: .corruptDownlinkDataFrame(after: 1), produce: stream)
    }

    @Test("tamperCommands rewrites the marker in whole server command frames only, keeping their length", arguments: [nil, mask])
    func tamperCommands(frameMask: [UInt8]?) {
        let mode = FaultMode.tamperCommands(marker: "SAFE-", replacement: "EVIL-")
        let command = WireFrame.text(#"{"body":{"text":"echo SAFE-1 SAFE-2"},"seq":4,"t":"command","v":2}"#, mask: frameMask)
        var tampered = command
        tampered.payload = Array(#"{"body":{"text":"echo EVIL-1 EVIL-2"},"seq":4,"t":"command","v":2}"#.utf8)
        // The marker elsewhere stays: another message type, a binary frame, a fragmented message, a ping.
        let untouched: [WireFrame] = [
            .text(#"{"body":{"text":"SAFE-3"},"t":"heartbeat","v":2}"#, mask: frameMask),
            WireFrame(opcode: 0x2, payload: Array(#""t":"command" SAFE-"#.utf8), maskKey: frameMask),
            WireFrame(fin: false, opcode: 0x1, payload: Array(#"{"t":"command","x":"SAFE-"#.utf8), maskKey: frameMask),
            WireFrame(opcode: 0x0, payload: Array(#""}"#.utf8), maskKey: frameMask),
            .ping("SAFE-", mask: frameMask),
        ]
        let stream = upgradeResponse + (untouched + [command]).flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: mode, produce: upgradeResponse + (untouched + [tampered]).flatMap(\.bytes))
        let counts = filter([ByteBuffer(bytes: stream)], direction: .downlink) { _ in mode }.counts
        #expect(counts.tampered == 1)
        #expect(counts.forwardedDownlink == 6)
        // Never uplink, and never when the replacement would change the frame's length.
        expectEverySplit(stream, direction: .uplink, mode: mode, produce: stream)
        expectEverySplit(stream, direction: .downlink, mode: .tamperCommands(marker: "SAFE-", replacement: "EVIL"), produce: stream)
    }

    @Test("replayCommands sends whole server command frames twice and everything else once", arguments: [nil, mask])
    func replayCommands(frameMask: [UInt8]?) {
        let command = WireFrame.text(#"{"body":{"text":"true"},"seq":3,"t":"command","v":2}"#, mask: frameMask)
        let heartbeat = WireFrame.text(#"{"body":{},"t":"heartbeat","v":2}"#, mask: frameMask)
        let ping = WireFrame.ping("p", mask: frameMask)
        let stream = upgradeResponse + [heartbeat, command, ping, command, heartbeat].flatMap(\.bytes)
        let expected = upgradeResponse + [heartbeat, command, command, ping, command, command, heartbeat].flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: .replayCommands, produce: expected)
        let counts = filter([ByteBuffer(bytes: stream)], direction: .downlink) { _ in .replayCommands }.counts
        #expect(counts.replayed == 2)
        #expect(counts.forwardedDownlink == 5)
        expectEverySplit(stream, direction: .uplink, mode: .replayCommands, produce: stream)
    }

    @Test("forgeCommandsAhead follows each server command frame with a copy under another id and the given seq")
    func forgeCommandsAhead() {
        let mode = FaultMode.forgeCommandsAhead(seq: 1 << 52)
        let command = WireFrame.text(#"{"body":{"command_id":"c_7","text":"echo \"seq\":1"},"seq":3,"t":"command","v":2}"#, mask: nil)
        let forged = WireFrame.text(#"{"body":{"command_id":"f_7","text":"echo \"seq\":1"},"seq":4503599627370496,"t":"command","v":2}"#, mask: nil)
        let heartbeat = WireFrame.text(#"{"body":{},"t":"heartbeat","v":2}"#, mask: nil)
        let stream = upgradeResponse + [heartbeat, command, heartbeat].flatMap(\.bytes)
        expectEverySplit(stream, direction: .downlink, mode: mode, produce: upgradeResponse + [heartbeat, command, forged, heartbeat].flatMap(\.bytes))
        let counts = filter([ByteBuffer(bytes: stream)], direction: .downlink) { _ in mode }.counts
        #expect(counts.forged == 1)
        #expect(counts.forwardedDownlink == 3)
        expectEverySplit(stream, direction: .uplink, mode: mode, produce: stream)
    }

    @Test("a mode change mid-frame applies from the next frame, keeping the stream well-formed")
    func modeChangeMidFrame() {
        let first = WireFrame.text(String(repeating: "a", count: 300))
        let second = WireFrame.text("second")
        let third = WireFrame.binary(count: 10)
        let stream = upgradeResponse + [first, second, third].flatMap(\.bytes)
        let firstMiddle = upgradeResponse.count + 100
        let secondMiddle = upgradeResponse.count + first.bytes.count + 3
        let chunks = split(stream, at: [firstMiddle, secondMiddle])
        // pass → drop mid-frame: the frame already started passes whole; the next is dropped.
        let passThenDrop = filter(chunks, direction: .downlink) { $0 == 0 ? .pass : .dropDownlinkData }
        #expect(passThenDrop.output == upgradeResponse + first.bytes)
        // drop → pass mid-frame: the frame being dropped stays dropped; the next passes.
        let dropThenPass = filter(chunks, direction: .downlink) { $0 == 0 ? .dropDownlinkData : .pass }
        #expect(dropThenPass.output == upgradeResponse + second.bytes + third.bytes)
        // Held (forwarded in a frame mode) → pass mid-frame: what was held is released, nothing lost.
        let held = filter(chunks, direction: .downlink) { $0 == 0 ? .dropFramesLargerThan(1000) : .pass }
        #expect(held.output == stream)
        #expect(held.counts.forwardedDownlink == 3)
    }

    @Test("halfOpen loses what it read, and the stream resumes at the next frame")
    func halfOpenThenPass() {
        let lost = WireFrame.text("lost")
        let kept = WireFrame.text("kept")
        let stream = upgradeResponse + lost.bytes + kept.bytes
        let chunks = split(stream, at: [upgradeResponse.count, upgradeResponse.count + lost.bytes.count])
        let result = filter(chunks, direction: .downlink) { $0 == 1 ? .halfOpen : .pass }
        #expect(result.output == upgradeResponse + kept.bytes)
        #expect(result.counts.droppedDownlink == 0)
    }
}
