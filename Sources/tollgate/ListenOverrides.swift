import ArgumentParser
import TollgateConfiguration

/// `--listen` and `--admin-listen`: run several instances from one configuration file (each on its own address,
/// all on one shared store), the file's `listen` and `admin.listen` otherwise.
struct ListenOverrides: ParsableArguments {
    @Option(help: "Listen on HOST:PORT instead of the configured `listen` (several instances from one file).")
    var listen: String?

    @Option(help: "Run the admin API on HOST:PORT instead of the configured `admin.listen`.")
    var adminListen: String?

    /// `configuration` with the overrides applied; a malformed address is a usage error (exit 64).
    func apply(to configuration: GatewayConfiguration) throws -> GatewayConfiguration {
        var configuration = configuration
        if let listen {
            guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
            configuration.listen = address
        }
        if let adminListen {
            guard let address = GatewayConfiguration.Listen(adminListen) else {
                throw ValidationError("--admin-listen must be HOST:PORT, got \(adminListen)")
            }
            guard configuration.admin != nil else { throw ValidationError("--admin-listen needs an admin: section in the configuration") }
            guard configuration.admin?.allowRemote == true || AdminConfiguration.isLoopback(address.host) else {
                throw ValidationError("--admin-listen \(adminListen) is not a loopback address; set admin.allow_remote: true to accept it")
            }
            configuration.admin?.listen = address
        }
        return configuration
    }
}
