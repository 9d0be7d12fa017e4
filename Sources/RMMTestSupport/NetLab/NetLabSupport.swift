import Foundation

/// Absolute paths of the programs NetLab drives.
struct NetLabTools: Sendable {
    let ip: String
    let tc: String
    let sh: String

    static func find() throws -> NetLabTools {
        guard let ip = NetLabShell.locate("ip") else { throw NetLabError.toolMissing("ip") }
        guard let tc = NetLabShell.locate("tc") else { throw NetLabError.toolMissing("tc") }
        guard let sh = NetLabShell.locate("sh") else { throw NetLabError.toolMissing("sh") }
        return NetLabTools(ip: ip, tc: tc, sh: sh)
    }
}

extension NetLab {
    /// Whether NetLab can work here, and if not, why (for a visible test skip). Probes once per
    /// process: root, then a throwaway namespace with a veth pair and the full blackhole.
    public static func isSupported() -> (Bool, String) {
        support
    }

    private static let support: (Bool, String) = probeSupport()

    private static func probeSupport() -> (Bool, String) {
        guard geteuid() == 0 else {
            return (false, "not running as root (euid \(geteuid())): network namespaces and tc need root")
        }
        let tools: NetLabTools
        do {
            tools = try NetLabTools.find()
        } catch {
            return (false, "\(error)")
        }
        try? NetLabNames.removeStale(label: "netlab-probe", tools: tools)
        let namespace = "\(NetLabNames.unique(label: "netlab-probe"))-srv"
        do {
            try NetLabShell.run(tools.ip, ["netns", "add", namespace])
        } catch {
            return (false, "cannot create a network namespace: \(error)")
        }
        defer { NetLabNames.delete(namespace: namespace, tools: tools) }
        do {
            try NetLabShell.run(
                tools.ip,
                ["-n", namespace, "link", "add", "probe0", "gso_max_segs", "1", "type", "veth", "peer", "name", "probe1"]
            )
            for arguments in NetLabBlackhole.tcCommands(device: "probe0", above: 1280) {
                try NetLabShell.run(tools.tc, ["-n", namespace] + arguments)
            }
        } catch {
            return (false, "this kernel cannot build the NetLab veth/tc blackhole (needs veth, sch_htb, cls_u32, pfifo): \(error)")
        }
        return (true, "root; ip netns, veth and tc (htb, u32, pfifo) work")
    }
}
