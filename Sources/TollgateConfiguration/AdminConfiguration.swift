/// The `admin:` section: where the admin API listens and where its token comes from.
public struct AdminConfiguration: Sendable, Hashable {
    /// The admin listener, separate from the gateway's (loopback unless `allowRemote`).
    public var listen: GatewayConfiguration.Listen
    /// Where the bearer token is read from: an environment variable or a file, never the configuration.
    public var token: GatewayConfiguration.SecretSource.Origin
    /// Whether a non-loopback `listen` was explicitly accepted.
    public var allowRemote: Bool

    public static let defaultListen = GatewayConfiguration.Listen(host: "127.0.0.1", port: 8405)

    public init(listen: GatewayConfiguration.Listen = Self.defaultListen, token: GatewayConfiguration.SecretSource.Origin, allowRemote: Bool = false) {
        self.listen = listen
        self.token = token
        self.allowRemote = allowRemote
    }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): where the admin API may listen by default.
    public static func isLoopback(_ host: String) -> Bool { ConfigurationLoader.isLoopback(host) }
}
