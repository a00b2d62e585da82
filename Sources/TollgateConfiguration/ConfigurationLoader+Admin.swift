import Yams

extension ConfigurationLoader {
    /// `admin`: `{listen: host:port, token: {env: NAME} | {file: PATH}, allow_remote: bool}`; nil when absent.
    static func readAdmin(_ node: Node?, _ r: inout YAMLReader) -> AdminConfiguration? {
        guard let node, let fields = r.mapping(node, "admin", known: ["listen", "token", "allow_remote"]) else { return nil }
        let listenText = r.string(fields["listen"], "admin.listen") ?? AdminConfiguration.defaultListen.description
        let listen = GatewayConfiguration.Listen(listenText)
        if listen == nil { r.fail(fields["listen"], "admin.listen", "expected host:port, e.g. 127.0.0.1:8405") }
        let allowRemote = r.bool(fields["allow_remote"], "admin.allow_remote") ?? false
        if let listen, !isLoopback(listen.host) {
            // The admin API can lift revocations and close every paid route: off the host only on purpose.
            if allowRemote {
                r.warn(fields["listen"], "admin.listen", "the admin API listens beyond loopback (\(listen)); put TLS and a firewall in front of it")
            } else {
                r.fail(fields["listen"], "admin.listen", "\(listen.host) is not a loopback address; set allow_remote: true to accept it")
            }
        }
        let token = readAdminToken(fields["token"], parent: node, &r)
        guard let listen, let token else { return nil }
        return AdminConfiguration(listen: listen, token: token, allowRemote: allowRemote)
    }

    private static func readAdminToken(_ node: Node?, parent: Node, _ r: inout YAMLReader) -> GatewayConfiguration.SecretSource.Origin? {
        guard let node else {
            r.fail(parent, "admin.token", "is required: {env: VARIABLE} or {file: PATH} holding the admin API's bearer token")
            return nil
        }
        guard let fields = r.mapping(node, "admin.token", known: ["env", "file", "value"]) else { return nil }
        if fields["value"] != nil {
            r.fail(fields["value"], "admin.token.value", "secrets are never written inline; use env: VARIABLE or file: PATH")
        }
        switch (r.string(fields["env"], "admin.token.env"), r.string(fields["file"], "admin.token.file")) {
        case (let env?, nil): return .environment(env)
        case (nil, let file?): return .file(file)
        default:
            if fields["value"] == nil { r.fail(node, "admin.token", "needs exactly one of env or file") }
            return nil
        }
    }

    /// 127.0.0.0/8, ::1 and localhost.
    static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
