import ArgumentParser
import AsyncHTTPClient
import NIOPosix
import Foundation
import Logging
import TollgateClient
import TollgateCore
import TollgateMCP
import TollgateX402

/// `tollgate pay URL`: curl that pays x402 402s within a budget, recording every payment in the client's ledger.
struct Pay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a URL (or call a paid MCP tool), paying its x402 402 within a budget; never twice for one purchase.",
        discussion: """
            The response body goes to standard output (or -o); everything else to standard error.
            The payer key comes from --key-file (readable by you only) or TOLLGATE_PAYER_KEY (hex), never an argument.
            Without --budget or --max-per-payment the default budget applies: at most 0.25 per payment, 2 an hour, \
            5 a day, 50 in 30 days (asset units, e.g. USDC); a limit a budget file leaves out keeps that default \
            (unlimited lifts it). On a terminal it asks before paying; --yes pays unattended.
            Exit status: 0 delivered, 2 refused by the budget or by you, 3 the server refused or failed (or an earlier \
            payment of the same request is still in doubt: nothing new is signed until the server settles it, or until \
            you abandon it once it can no longer settle; see tollgate wallet pending and tollgate wallet abandon), \
            1 anything else.
            """)

    @Argument(help: "The URL to fetch (with --mcp: omit it).")
    var url: String?

    @Option(name: [.customShort("X"), .customLong("request")], help: "HTTP method (default GET, or POST with data).")
    var method: String?

    @Option(name: [.customShort("H"), .customLong("header")], help: "Request header 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(name: [.customShort("d"), .customLong("data")], help: "Request body; @FILE reads it from a file.")
    var data: String?

    @Option(name: .customLong("data-binary"), help: "Request body, byte for byte; @FILE reads it from a file.")
    var dataBinary: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Write the response body to this file instead of standard output.")
    var output: String?

    @Flag(name: [.customShort("i"), .customLong("include")], help: "Write the status line and headers before the body.")
    var include = false

    @Flag(name: [.customShort("s"), .customLong("silent")], help: "Say nothing on standard error but errors.")
    var silent = false

    @Flag(help: "Pay without asking (unattended use).")
    var yes = false

    @Flag(help: "Show the terms and what the budget says of them; sign and pay nothing.")
    var dryRun = false

    @OptionGroup var wallet: WalletOptions

    @Option(help: "Call a paid tool on this MCP server (streamable HTTP URL) instead of fetching a URL.")
    var mcp: String?

    @Option(help: "The MCP tool to call (with --mcp).")
    var tool: String?

    @Option(help: "The tool's arguments, a JSON object (with --mcp).")
    var args: String = "{}"

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Int = 30

    @Option(name: .customLong("rpc"), help: ArgumentHelp(
        "An EVM node for a network, NETWORK=URL (repeatable, e.g. eip155:84532=https://sepolia.base.org).",
        discussion: "An authorization in doubt past its validBefore is then settled by what the chain says of it: used is paid (its answer lost), unused frees the request."))
    var rpc: [String] = []

    @Option(name: .customLong("rpc-max-log-range"), help: ArgumentHelp(
        "Blocks one eth_getLogs asks the --rpc nodes for at most.",
        discussion: "Hosted nodes refuse wide ranges; a window refused is halved. The default, 2000, is what most hosted nodes serve."))
    var rpcMaxLogRange: Int = Int(EVMChainReader.defaultMaxLogRange)

    /// `--rpc` as chain readers by network.
    func chains() throws -> [String: EVMChainReader] {
        guard (1...1_000_000).contains(rpcMaxLogRange) else {
            throw ClientError(.invalidRequest, "--rpc-max-log-range must be 1 to 1000000 blocks")
        }
        var chains: [String: EVMChainReader] = [:]
        for entry in rpc {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("eip155:"), HTTPOrigin(baseURL: parts[1]) != nil else {
                throw ClientError(.invalidRequest, "--rpc must be NETWORK=URL, an eip155 network and an http(s) URL (got \(parts.first ?? "")=…)")
            }
            chains[parts[0]] = EVMChainReader(url: parts[1], maxLogRange: Int64(rpcMaxLogRange))
        }
        return chains
    }

    func run() async throws {
        do {
            try await pay()
        } catch let error as ClientError {
            FileHandle.standardError.write(Data("tollgate pay: \(error.message) [\(error.code.rawValue)]\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }

    func pay() async throws {
        guard (1...3600).contains(timeout) else { throw ClientError(.invalidRequest, "--timeout must be 1 to 3600 seconds") }
        // Where the body goes is checked before anything is paid: a paid answer must not be lost to a bad path.
        let sink = try OutputSink(path: output)
        let ledger = try wallet.ledger()
        let budget = try wallet.budget()
        let payer = try PayerKey.load(keyFile: wallet.keyFile)
        // Redirects are not followed (as curl): a proof must not travel to another origin, nor a price come from one.
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            try await pay(PaymentClient(http: http, payer: payer, ledger: ledger, budget: budget, logger: Self.logger(silent: silent)), sink: sink)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func pay(_ client: PaymentClient, sink: OutputSink) async throws {
        var client = client
        client.timeout = Duration.seconds(timeout)
        client.chains = try chains()
        let confirm = Confirmation(yes: yes, silent: silent)
        if let mcp {
            try await callTool(client, server: mcp, confirm: confirm, sink: sink)
            return
        }
        guard let url else { throw ClientError(.invalidRequest, "a URL is needed (or --mcp URL --tool NAME)") }
        let request = try makeRequest(url)
        if dryRun {
            let (response, quote) = try await client.quote(request)
            try dryRunReport(quote, request: "\(request.method) \(url)", unpaid: "HTTP \(response.status)")
            return
        }
        let outcome = try await client.fetch(request, confirm: { quote in await confirm.ask(quote, request: "\(request.method) \(url)") })
        // The purchase first: an answer that cannot be written (a full disk, a closed pipe) must not hide what was paid.
        if let purchase = outcome.purchase { note(Self.summary(purchase, resumed: outcome.resumed)) }
        try sink.write(head(outcome.response) + outcome.response.body)
        guard (200..<300).contains(outcome.response.status) else {
            throw Self.failure(outcome.purchase, "the server answered HTTP \(outcome.response.status)")
        }
    }

    /// A paid request that did not succeed: `payment_in_doubt` when its purchase was left in doubt (the next run sends
    /// the same authorization again, nothing new is signed before), `server_refused` otherwise.
    static func failure(_ purchase: Purchase?, _ what: String) -> ClientError {
        guard let purchase else { return ClientError(.serverRefused, what) }
        let reason = Terminal.safe(purchase.reason ?? "no reason given")
        if purchase.isInDoubt { return PaymentClient.inDoubt(purchase, nowSeconds: Int64(Date().timeIntervalSince1970), problem: reason) }
        return ClientError(.serverRefused, "\(what) to purchase \(purchase.id) (\(reason))")
    }

    /// `--dry-run`: the terms and the budget's answer on standard error; a refusal is status 2.
    func dryRunReport(_ quote: PaymentClient.Quote?, request: String, unpaid: String) throws {
        guard let quote else {
            note("no payment asked: \(unpaid)")
            return
        }
        FileHandle.standardError.write(Data(Confirmation.describe(quote, request: request).utf8))
        if let pending = quote.pending {
            note("purchase \(pending.id) (\(pending.price), \(pending.state.rawValue)), signed earlier for this request, is in doubt: "
                 + "a real run sends it again first and signs nothing new while it is (tollgate wallet pending)")
        }
        if let refusal = quote.refusal { throw refusal }
    }

    func callTool(_ client: PaymentClient, server: String, confirm: Confirmation, sink: OutputSink) async throws {
        guard let tool else { throw ClientError(.invalidRequest, "--mcp needs --tool NAME") }
        guard let arguments = JSONValue.parse(Array(args.utf8)), case .object = arguments else {
            throw ClientError(.invalidRequest, "--args must be a JSON object")
        }
        if dryRun {
            let (answer, quote) = try await client.quoteTool(url: server, tool: tool, arguments: arguments, headers: try parsedHeaders())
            try dryRunReport(quote, request: "tools/call \(tool) at \(server)", unpaid: answer.error == nil ? "the tool answered" : "a JSON-RPC error")
            return
        }
        let outcome = try await client.callTool(url: server, tool: tool, arguments: arguments, headers: try parsedHeaders(),
                                                confirm: { quote in await confirm.ask(quote, request: "tools/call \(tool) at \(server)") })
        let text = outcome.answer.result ?? outcome.answer.error ?? .null
        if let purchase = outcome.purchase { note(Self.summary(purchase, resumed: outcome.resumed)) }
        try sink.write(Array(text.canonicalBytes) + [10])
        guard outcome.succeeded else { throw Self.failure(outcome.purchase, "the tool call did not succeed") }
    }

    func makeRequest(_ url: String) throws -> PaymentClient.Request {
        var body: [UInt8]?
        if let text = dataBinary ?? data {
            if text.hasPrefix("@") {
                guard let contents = FileManager.default.contents(atPath: String(text.dropFirst())) else {
                    throw ClientError(.invalidRequest, "cannot read \(text.dropFirst())")
                }
                body = Array(contents)
                // curl's -d strips newlines from a file; --data-binary keeps every byte.
                if dataBinary == nil { body = body?.filter { $0 != 10 && $0 != 13 } }
            } else {
                body = Array(text.utf8)
            }
        }
        var headers = try parsedHeaders()
        if body != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        }
        return PaymentClient.Request(method: method ?? (body == nil ? "GET" : "POST"), url: url, headers: headers, body: body)
    }

    func parsedHeaders() throws -> [(String, String)] {
        try headers.map { line in
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line.unicodeScalars.allSatisfy({ $0 != "\r" && $0 != "\n" && $0 != "\0" }),
                  line[..<colon].unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && !"()<>@,;:\\\"/[]?={}".unicodeScalars.contains($0) })
            else {
                throw ClientError(.invalidRequest, "a header is 'Name: value' on one line, not \(Terminal.safe(line))")
            }
            return (String(line[..<colon]).trimmingCharacters(in: .whitespaces), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
    }

    /// The status line and headers, with `-i`.
    func head(_ response: PaymentClient.Response) -> [UInt8] {
        guard include else { return [] }
        var head = "HTTP/1.1 \(response.status)\r\n"
        for header in response.headers { head += "\(header.name): \(header.value)\r\n" }
        return Array((head + "\r\n").utf8)
    }

    func note(_ line: String) {
        if !silent { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    static func summary(_ purchase: Purchase, resumed: Bool) -> String {
        let verb = purchase.state == .delivered ? "paid" : "payment \(purchase.state.rawValue):"
        var line = "tollgate pay: \(verb) \(purchase.price) to \(purchase.payee) on \(purchase.network) (purchase \(purchase.id)"
        if let transaction = purchase.transaction { line += ", tx \(transaction)" }
        if let correlation = purchase.correlationId { line += ", correlation id \(correlation)" }
        line = Terminal.safe(line)
        line += ")"
        if resumed { line += ", re-sending the authorization signed earlier for this request" }
        return line
    }

    static func logger(silent: Bool) -> Logger {
        LoggingBootstrap.once
        var logger = Logger(label: "tollgate.pay")
        logger.logLevel = silent ? .error : .warning
        return logger
    }
}

/// Asks before paying: on a terminal, a prompt; otherwise only `--yes` pays.
struct Confirmation: Sendable {
    let yes: Bool
    let silent: Bool

    func ask(_ quote: PaymentClient.Quote, request: String) async -> Bool {
        if yes {
            return true
        }
        guard isatty(STDIN_FILENO) == 1, isatty(STDERR_FILENO) == 1 else {
            FileHandle.standardError.write(Data("tollgate pay: not a terminal, so nothing is paid without --yes\n".utf8))
            return false
        }
        FileHandle.standardError.write(Data((Self.describe(quote, request: request) + "Pay? [y/N] ").utf8))
        let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return answer == "y" || answer == "yes"
    }

    /// The terms, the offer the budget would pay, and where each limit stands; what the server wrote is shown
    /// without its control characters (it cannot redraw the prompt).
    static func describe(_ quote: PaymentClient.Quote, request: String) -> String {
        Terminal.safe(unsafeDescription(quote, request: request), keepingNewlines: true)
    }

    static func unsafeDescription(_ quote: PaymentClient.Quote, request: String) -> String {
        var text = "\(request) asks for payment (x402 v\(quote.terms.version))"
        if let error = quote.terms.error { text += ", reason: \(error)" }
        text += "\n"
        for option in quote.terms.options {
            text += "  offer: \(option.amount?.atomic ?? option.requirements.amount) atomic units of \(option.asset) on \(option.network) to \(option.payTo)\n"
        }
        if let choice = quote.choice {
            text += "  would pay: \(choice.price) to \(choice.option.payTo) on \(choice.option.network)\n"
        }
        for standing in quote.standing {
            text += "  budget \(standing.window) (\(standing.scope)): \(standing.spent) spent of \(standing.limit)\n"
        }
        if let refusal = quote.refusal { text += "  refused by the budget: \(refusal.message)\n" }
        return text
    }
}

/// Where the wallet lives and what it may spend: shared by `tollgate pay` and `tollgate wallet`.
struct WalletOptions: ParsableArguments {
    @Option(help: "The payer's private key file (hex, readable by you only); default: the TOLLGATE_PAYER_KEY environment variable.")
    var keyFile: String?

    @Option(name: .customLong("ledger"), help: "The ledger (SQLite) of payments and budgets; default $TOLLGATE_LEDGER or ~/.local/share/tollgate/wallet.sqlite.")
    var ledgerPath: String?

    @Option(name: .customLong("budget"), help: "A budget file (YAML): limits per payment, hour, day and month, per host, payee and tool; allowed networks, assets, payees.")
    var budgetPath: String?

    @Option(help: "The most one payment may cost, in the asset's units (e.g. 0.05); overrides the budget's per_payment.")
    var maxPerPayment: String?

    func ledger() throws -> PaymentLedger {
        try PaymentLedger(path: ledgerPath ?? PaymentLedger.defaultPath())
    }

    func budget() throws -> Budget {
        var budget = try budgetPath.map { path in try Budget.load(path: path) } ?? .standard
        if let maxPerPayment {
            guard let limit = MicroUnits(decimal: maxPerPayment) else {
                throw ClientError(.invalidBudget, "--max-per-payment must be an amount such as 0.05, not \(maxPerPayment)")
            }
            budget.overall.perPayment = limit
        }
        return budget
    }
}

/// Where `tollgate pay` writes the body: a file opened (created) before anything is paid, or standard output.
struct OutputSink {
    let handle: FileHandle

    init(path: String?) throws {
        guard let path else {
            handle = .standardOutput
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ClientError(.invalidRequest, "cannot write \(path)")
        }
        self.handle = handle
    }

    /// A closed pipe or a full disk is an error (status 1), never a crash.
    func write(_ bytes: [UInt8]) throws {
        do {
            try handle.write(contentsOf: bytes)
        } catch {
            throw ClientError(.invalidRequest, "cannot write the response body: \(error)")
        }
    }
}

/// Text from a server, made safe for a terminal: control characters (escape sequences, carriage returns) removed.
enum Terminal {
    static func safe(_ text: String, keepingNewlines: Bool = false) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { scalar in
            (keepingNewlines && scalar == "\n") || !(scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value))
        }))
    }
}
