import ArgumentParser
import Foundation
import TollgateCore
import TollgateHTTP

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a configuration file and report every problem with its line.")

    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    func run() throws {
        let configuration = try ConfigurationFile.load(config)
        let paid = configuration.routes.filter { $0.pricing != nil }.count
        print("\(config): OK — \(configuration.routes.count) route(s), \(paid) paid, \(configuration.clients.count) client(s), "
              + "\(configuration.facilitators.count) facilitator(s)")
        if case .failure(let error) = Result(catching: { try SecretResolver.keyRing(configuration.secrets) }) {
            print("note: \(error) (needed by serve, not by check)")
        }
        if let admin = configuration.admin, case .failure(let error) = Result(catching: { try SecretResolver.adminToken(admin.token) }) {
            print("note: \(error) (needed by serve, not by check)")
        }
    }
}

struct HashKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-key", abstract: "Print the SHA-256 of an API key, for clients[].api_key_sha256.")

    @Argument(help: "The API key (or - to read it from standard input).")
    var key: String

    func run() throws {
        let text = key == "-" ? (readLine(strippingNewline: true) ?? "") : key
        print(APIKeyHash.sha256Hex(text))
    }
}
