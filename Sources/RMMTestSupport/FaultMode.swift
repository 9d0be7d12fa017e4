/// How the fault proxy treats traffic on every connection it carries; switchable at any time.
///
/// The WebSocket-aware modes act on whole RFC 6455 frames after the HTTP upgrade; on a stream
/// that is not WebSocket they forward bytes unchanged.
public enum FaultMode: Sendable, Equatable {
    /// Forward bytes unchanged in both directions.
    case pass
    /// Forward nothing and close nothing: both sockets stay open while the path is dead,
    /// which is what a NAT rebinding or a proxy that keeps its upstream open looks like (H7).
    case halfOpen
    /// Drop server-to-client data frames (text, binary, continuation) but pass ping, pong and
    /// close, and everything client to server: a proxy or WAF that filters data frames (H3).
    case dropDownlinkData
    /// Drop server-to-client text messages only, so a binary-frame fallback gets through (H3).
    case dropDownlinkText
    /// Drop data frames, either direction, whose payload is longer than this many bytes; smaller
    /// frames and control frames pass (H1, an MTU blackhole as a proxy sees it).
    case dropFramesLargerThan(Int)
    /// Stop reading the socket that feeds this direction, closing nothing: for `.downlink` the
    /// server's writes back up (H5, write clog). The other direction keeps flowing.
    case stopReading(FaultDirection)
    /// Pass server-to-client data frames until this many have gone by on the connection, then
    /// replace the payload of the next one with as many bytes of non-JSON garbage ("#"); once per
    /// connection, after which everything passes (H4, protocol desync).
    case corruptDownlinkDataFrame(after: Int)
    /// Rewrite every `marker` to `replacement` inside server-to-client text frames that carry an
    /// envelope of this `type` (`"t":"command"`, `"t":"welcome"`), leaving everything else (the
    /// signature included) as it was: a compromised relay altering what the server says. Both
    /// strings must have the same UTF-8 length, so the frame stays well-formed; when they do not,
    /// frames pass unchanged.
    case tamperMessages(type: String, marker: String, replacement: String)
    /// Send every server-to-client text frame carrying a `"t":"command"` envelope twice, back to
    /// back: a relay replaying work.
    case replayCommands
    /// After every server-to-client command frame, send a forged one: the same envelope with
    /// another command id (its `c_` prefix turned into `f_`) and `seq` replaced by this number: a
    /// relay injecting work far ahead in the stream, to make every later real command look old.
    case forgeCommandsAhead(seq: Int)
    /// Replace one number, chosen at random, in about one in `oneIn` server-to-client text frames
    /// (any message type) with an extreme value (`NumericExtremes.tokens`), keeping the frame
    /// well-formed as a frame: a relay bending what the agent reads, from the first frame on.
    case extremeNumbersDownlink(oneIn: Int)
}

/// Which way bytes travel through the proxy.
public enum FaultDirection: Sendable, Equatable {
    /// Client (agent) to server: bytes read from the accepted downstream socket.
    case uplink
    /// Server to client (agent): bytes read from the upstream socket.
    case downlink

    /// The other direction.
    var reversed: FaultDirection {
        switch self {
        case .uplink: .downlink
        case .downlink: .uplink
        }
    }
}

extension FaultMode {
    /// `tamperMessages` on command frames: a relay altering work.
    public static func tamperCommands(marker: String, replacement: String) -> FaultMode {
        .tamperMessages(type: "command", marker: marker, replacement: replacement)
    }

    /// Whether the proxy keeps reading from the socket that feeds `direction`.
    /// Not reading is how a dead path is simulated: the sender's TCP buffers fill up and stay full,
    /// instead of the bytes vanishing into a proxy that still acknowledges them.
    func reads(_ direction: FaultDirection) -> Bool {
        switch self {
        case .halfOpen: false
        case .stopReading(let stopped): direction != stopped
        case .pass, .dropDownlinkData, .dropDownlinkText, .dropFramesLargerThan, .corruptDownlinkDataFrame, .tamperMessages, .replayCommands,
             .forgeCommandsAhead, .extremeNumbersDownlink:
            true
        }
    }

    /// Whether a close (EOF or reset) seen on the socket feeding `direction` is passed on to the
    /// other socket. A dead path loses FINs just as it loses data.
    func propagatesClose(_ direction: FaultDirection) -> Bool {
        switch self {
        case .halfOpen: false
        case .pass, .dropDownlinkData, .dropDownlinkText, .dropFramesLargerThan, .stopReading, .corruptDownlinkDataFrame,
             .tamperMessages, .replayCommands, .forgeCommandsAhead, .extremeNumbersDownlink:
            true
        }
    }
}
