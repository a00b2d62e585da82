import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateConfiguration
import TollgateCore
import TollgateHTTP
import TollgateMCP
import UnixSignals

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Run the MCP gateway: paid tools (x402 MCP transport) in front of an MCP server over streamable HTTP or stdio.")

    @Option(name: .shortAndLong, help: "The configuration file (YAML) with an mcp: section.")
    var config: String

    @OptionGroup var overrides: ListenOverrides

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let loaded = try overrides.apply(to: ConfigurationFile.load(config))
        guard let mcp = loaded.mcp else {
            Console.error("\(config): no mcp: section; `tollgate mcp` needs one (docs/configuration.md, \"mcp\"); `tollgate serve` runs the reverse proxy")
            throw ExitCode(2)
        }
        guard mcp.upstream != nil else {
            Console.error("\(config): mcp.upstream is required for `tollgate mcp` (url: an MCP endpoint over streamable HTTP, or command: a local server over stdio)")
            throw ExitCode(2)
        }
        try await Serve.run(loaded, logger: logging.makeLogger("tollgate.mcp"), name: "MCP gateway")
    }
}

struct SampleMCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-mcp",
        abstract: "Run the sample MCP server (tools echo, forecast, fail) over streamable HTTP at /mcp, or over stdio.")

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:8406"

    @Flag(help: "Speak MCP over stdin/stdout (one JSON-RPC message per line) instead of HTTP.")
    var stdio = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let server = SampleMCPServer()
        if stdio {
            // Answers go to stdout; nothing else may be written there.
            while let line = readLine(strippingNewline: true) {
                guard let message = JSONRPCMessage.parse(Array(line.utf8)) else { continue }
                if let reply = server.handle(message, era: MCPEra.of(message)) {
                    FileHandle.standardOutput.write(Data(reply.bytes + [UInt8(ascii: "\n")]))
                }
            }
            return
        }
        guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen expects host:port") }
        let logger = logging.makeLogger("tollgate.sample-mcp")
        let app = Application(
            router: SampleMCPRouter.router(server: server),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollgate-sample-mcp"),
            onServerRunning: { channel in
                logger.info("sample MCP server listening", metadata: ["tollgate.listen": "\(address.host):\(channel.localAddress?.port ?? 0)", "tollgate.path": "/mcp"])
            },
            logger: logger)
        try await app.runService()
    }
}
