extension NetLab {
    /// Builds the namespaces, veth pair, addresses and blackhole; throws on the first failure.
    func build() throws {
        let ip = tools.ip
        try NetLabShell.run(ip, ["netns", "add", serverNamespace])
        try NetLabShell.run(ip, ["netns", "add", agentNamespace])
        // Created straight inside the namespaces, so nothing ever appears in the host namespace.
        // gso_max_segs 1 makes TCP hand the device one MSS-sized segment per packet (the veth
        // would otherwise take 64 KB TSO/GSO super-packets, whose IP length would not be the
        // length on a real wire); ethtool is not needed for this.
        let linkOptions = ["mtu", "1500", "gso_max_segs", "1"]
        try NetLabShell.run(
            ip,
            ["link", "add", Self.serverDevice, "netns", serverNamespace] + linkOptions
                + ["type", "veth", "peer", "name", Self.agentDevice, "netns", agentNamespace] + linkOptions
        )
        try configure(namespace: serverNamespace, device: Self.serverDevice, address: serverAddress)
        try configure(namespace: agentNamespace, device: Self.agentDevice, address: agentAddress)
    }

    private func configure(namespace: String, device: String, address: String) throws {
        let ip = tools.ip
        try NetLabShell.run(ip, ["-n", namespace, "link", "set", "dev", "lo", "up"])
        try NetLabShell.run(ip, ["-n", namespace, "addr", "add", "\(address)/30", "dev", device])
        try NetLabShell.run(ip, ["-n", namespace, "link", "set", "dev", device, "up"])
        // No PMTU black-hole detection: stay stalled as a default Linux agent would (it is the
        // default in a new namespace; set it anyway so a kernel default change cannot hide H1).
        try NetLabShell.run(
            ip,
            ["netns", "exec", namespace, tools.sh, "-c", "echo 0 > /proc/sys/net/ipv4/tcp_mtu_probing"]
        )
        let details = try NetLabShell.run(ip, ["-n", namespace, "-d", "link", "show", "dev", device])
        guard details.contains("gso_max_segs 1 ") || details.hasSuffix("gso_max_segs 1") else {
            throw NetLabError.invalidArgument("could not limit GSO on \(device) in \(namespace): \(details)")
        }
        if let limit = blackholeAbove {
            for arguments in NetLabBlackhole.tcCommands(device: device, above: limit) {
                try NetLabShell.run(tools.tc, ["-n", namespace] + arguments)
            }
        }
    }
}
