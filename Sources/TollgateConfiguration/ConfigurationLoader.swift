import Foundation
import HTTPTypes
import TollgateCore
import TollgateX402
import Yams

/// Reads and validates a gateway configuration file, reporting every problem with its line.
public enum ConfigurationLoader {
    /// Reads the file at `path`; `${NAME}` references are read from `environment`.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> (GatewayConfiguration, warnings: [ConfigurationIssue]) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, issues: [.init(line: nil, path: "", message: "cannot read the file")])
        }
        return try parse(text, file: path, environment: environment)
    }

    /// Parses and validates `text`; `${NAME}` references are read from `environment`.
    public static func parse(_ text: String, file: String = "<config>",
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> (GatewayConfiguration, warnings: [ConfigurationIssue]) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigurationError(file: file, issues: [.init(line: nil, path: "", message: "the file is empty")])
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch let error as YamlError {
            throw ConfigurationError(file: file, issues: [.init(line: Self.line(of: error), path: "", message: "not valid YAML: \(error)")])
        } catch {
            throw ConfigurationError(file: file, issues: [.init(line: nil, path: "", message: "not valid YAML: \(error)")])
        }
        var reader = YAMLReader(environment: environment)
        let configuration = read(root, &reader)
        let errors = reader.issues.filter { $0.severity == .error }
        guard errors.isEmpty, let configuration else {
            throw ConfigurationError(file: file, issues: reader.issues)
        }
        return (configuration, reader.issues)
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    static let topKeys: Set<String> = [
        "listen", "public_url", "upstream", "secrets", "storage", "facilitators", "assets", "pay_to", "clients", "routes",
        "unmatched", "retry_after_seconds", "max_request_body_bytes", "max_client_connections", "max_client_connections_per_ip", "client_idle_timeout_seconds",
        "client_request_timeout_seconds", "limits", "spend_caps", "idempotency_window_seconds", "quotas", "payers", "jwt",
        "admin", "audit", "refunds", "settlement", "contract_secrets", "trusted_proxies", "mcp", "x402",
    ]

    static func read(_ root: Node, _ r: inout YAMLReader) -> GatewayConfiguration? {
        guard let top = r.mapping(root, "", known: topKeys) else { return nil }

        let listenText = r.string(top["listen"], "listen") ?? "127.0.0.1:8402"
        let listen = GatewayConfiguration.Listen(listenText)
        if listen == nil { r.fail(top["listen"], "listen", "expected host:port, e.g. 127.0.0.1:8402") }

        let publicURL = r.string(top["public_url"], "public_url") ?? "http://\(listen?.description ?? "127.0.0.1:8402")"
        if !isHTTPURL(publicURL) { r.fail(top["public_url"], "public_url", "expected an http(s) URL") }

        // An MCP gateway (`mcp:`) has its own upstream and prices tools instead of routes.
        let mcp = readMCP(top["mcp"], &r)
        let isMCP = top["mcp"] != nil
        if isMCP {
            for key in ["upstream", "routes", "unmatched"] where top[key] != nil {
                r.fail(top[key], key, "does not apply to an MCP gateway (mcp: has its upstream; price tools under mcp.tools)")
            }
        }

        var upstreamURL = ""
        var upstreamTimeout = 30.0
        var maxUpstreamBytes = 32 * 1024 * 1024
        var upstreamConnections = 64
        var pathCase: PathCase? = .unknown
        if let upstream = r.mapping(top["upstream"], "upstream", known: ["url", "timeout_seconds", "max_response_bytes", "max_connections", "path_case"]) {
            upstreamURL = r.string(upstream["url"], "upstream.url", required: true, parent: top["upstream"]) ?? ""
            // Read as the upstream client reads it (`HTTPOrigin`): a URL it could not call fails here, not on every request.
            if !upstreamURL.isEmpty && HTTPOrigin(baseURL: upstreamURL) == nil {
                r.fail(upstream["url"], "upstream.url", "expected an http(s) URL with a host (a port up to 65535, no fragment)")
            }
            upstreamTimeout = Double(r.int(upstream["timeout_seconds"], "upstream.timeout_seconds", range: 1...3600) ?? 30)
            // An answer is held in one buffer, whose size is a 32-bit count: a larger limit could end in a crash.
            maxUpstreamBytes = r.int(upstream["max_response_bytes"], "upstream.max_response_bytes", range: 1024...(1 << 31)) ?? maxUpstreamBytes
            upstreamConnections = r.int(upstream["max_connections"], "upstream.max_connections", range: 1...4096) ?? upstreamConnections
            if let text = r.string(upstream["path_case"], "upstream.path_case") {
                pathCase = PathCase(rawValue: text)
                if pathCase == nil { r.fail(upstream["path_case"], "upstream.path_case", "expected sensitive, insensitive or unknown") }
            }
        } else if top["upstream"] == nil && !isMCP {
            r.fail(root, "upstream", "is required (upstream.url: the API to protect)")
        }

        let secrets = readSecrets(top["secrets"], root: root, &r)
        let contractSecrets = readSecrets(top["contract_secrets"], root: root, key: "contract_secrets", &r)

        var sqlitePath = ".tollgate/gateway.sqlite"
        var auditFlush = 200
        var durable = true
        var postgres: PostgresStoreConfiguration?
        if let storage = r.mapping(top["storage"], "storage", known: ["sqlite", "postgres", "audit_flush_ms", "sync"]) {
            postgres = readPostgres(storage["postgres"], &r)
            if storage["postgres"] != nil, storage["sqlite"] != nil {
                r.fail(storage["postgres"], "storage.postgres", "storage.sqlite and storage.postgres are both set; choose one store")
            }
            sqlitePath = r.string(storage["sqlite"], "storage.sqlite") ?? sqlitePath
            auditFlush = r.int(storage["audit_flush_ms"], "storage.audit_flush_ms", range: 1...10_000) ?? auditFlush
            switch r.string(storage["sync"], "storage.sync") ?? "full" {
            case "full": durable = true
            case "normal":
                durable = false
                r.warn(storage["sync"], "storage.sync", "normal may lose the last commits (reservations, settlements) on power loss; use it to measure, not to take money")
            default: r.fail(storage["sync"], "storage.sync", "expected full (the default) or normal")
            }
        }

        let facilitators = readFacilitators(top["facilitators"], &r)
        let assets = readAssets(top["assets"], &r)
        let payTo = r.string(top["pay_to"], "pay_to")
        if let payTo, !isAddress(payTo) { r.fail(top["pay_to"], "pay_to", "expected a 0x-prefixed 20-byte hex address") }
        let clients = readClients(top["clients"], &r)
        let routes = isMCP
            ? readRoutes(top["mcp"]?.mapping?["tools"], assets: assets, payTo: payTo, clients: clients, root: root, tools: true, &r)
            : readRoutes(top["routes"], assets: assets, payTo: payTo, clients: clients, root: root, &r)

        let unmatchedText = r.string(top["unmatched"], "unmatched") ?? "deny"
        let unmatched = Gateway.UnmatchedPolicy(rawValue: unmatchedText)
        if unmatched == nil { r.fail(top["unmatched"], "unmatched", "expected deny or pass") }

        if !routes.filter({ $0.pricing != nil }).isEmpty && facilitators.isEmpty {
            r.fail(top["facilitators"] ?? root, "facilitators", "paid routes need at least one facilitator")
        }
        for route in routes {
            for network in route.pricing?.accepts.map(\.asset.network) ?? [] where !facilitators.isEmpty && facilitators.serving(network).isEmpty {
                r.fail(top["facilitators"], "facilitators", "no facilitator is configured for \(network) (route \(route.resource))")
            }
        }

        let limits = readLimits(top["limits"], routes: isMCP ? top["mcp"]?.mapping?["tools"] : top["routes"], tools: isMCP, &r)
        let spendCaps = readSpendCaps(top["spend_caps"], assets: assets, &r)
        let quotas = readQuotas(top["quotas"], &r)
        var jwt: GatewayConfiguration.JWTSettings?
        if let settings = r.mapping(top["jwt"], "jwt", known: ["issuer", "audience", "jwks_file", "pem_file"]) {
            let issuer = r.string(settings["issuer"], "jwt.issuer", required: true, parent: top["jwt"]) ?? ""
            let audience = r.string(settings["audience"], "jwt.audience", required: true, parent: top["jwt"]) ?? ""
            let jwks = r.string(settings["jwks_file"], "jwt.jwks_file")
            let pem = r.string(settings["pem_file"], "jwt.pem_file")
            if jwks == nil && pem == nil { r.fail(top["jwt"], "jwt", "needs jwks_file or pem_file (the keys that sign the tokens)") }
            jwt = .init(issuer: issuer, audience: audience, jwksFile: jwks, pemFile: pem)
        }
        var payerAllow: [String]?
        var payerDeny: [String] = []
        if let payers = r.mapping(top["payers"], "payers", known: ["allow", "deny"]) {
            payerAllow = r.strings(payers["allow"], "payers.allow")
            payerDeny = r.strings(payers["deny"], "payers.deny") ?? []
            for address in (payerAllow ?? []) + payerDeny where !isAddress(address) {
                r.fail(top["payers"], "payers", "\(address) is not a 0x-prefixed 20-byte hex address")
            }
        }
        let audit = readAudit(top["audit"], &r)
        let refunds = readRefunds(top["refunds"], &r)
        let settlement = readSettlement(top["settlement"], &r)
        let proxyList = r.strings(top["trusted_proxies"], "trusted_proxies") ?? []
        let trustedProxies = TrustedProxies(proxyList)
        if trustedProxies == nil { r.fail(top["trusted_proxies"], "trusted_proxies", "expected IP addresses or CIDR blocks (10.0.0.0/8, 2001:db8::/32)") }
        guard let listen, let unmatched else { return nil }
        var configuration = GatewayConfiguration(
            listen: listen, publicURL: publicURL, upstreamURL: upstreamURL, upstreamTimeoutSeconds: upstreamTimeout,
            maxUpstreamResponseBytes: maxUpstreamBytes, upstreamMaxConnections: upstreamConnections,
            maxRequestBodyBytes: r.int(top["max_request_body_bytes"], "max_request_body_bytes", range: 0...(1 << 30)) ?? 1 << 20,
            secrets: secrets, sqlitePath: sqlitePath, auditFlushMillis: auditFlush, facilitators: facilitators, assets: assets,
            payTo: payTo, clients: clients, routes: routes, unmatched: unmatched,
            admin: readAdmin(top["admin"], &r),
            retryAfterSeconds: r.int(top["retry_after_seconds"], "retry_after_seconds", range: 1...3600) ?? 5, limits: limits, spendCaps: spendCaps, quotas: quotas, payerAllowList: payerAllow.map(Set.init), payerDenyList: Set(payerDeny), jwt: jwt,
            idempotencyWindowSeconds: r.int(top["idempotency_window_seconds"], "idempotency_window_seconds", range: 0...604_800) ?? 3600,
            auditRetention: audit.retention)
        configuration.auditsDenials = audit.auditsDenials
        configuration.maxClientConnections = r.int(top["max_client_connections"], "max_client_connections", range: 1...65_536) ?? 1024
        configuration.clientIdleTimeoutSeconds = r.int(top["client_idle_timeout_seconds"], "client_idle_timeout_seconds", range: 1...3600) ?? 60
        configuration.maxClientConnectionsPerIP = r.int(top["max_client_connections_per_ip"], "max_client_connections_per_ip", range: 1...65_536) ?? 128
        configuration.clientRequestTimeoutSeconds = r.int(top["client_request_timeout_seconds"], "client_request_timeout_seconds", range: 1...3600) ?? 60
        // An MCP server finds a tool by its exact name.
        configuration.upstreamPathCase = isMCP ? .sensitive : pathCase ?? .unknown
        configuration.auditHeadFile = audit.headFile
        configuration.auditHeadIntervalSeconds = audit.headIntervalSeconds
        configuration.auditUnkeyedThroughSeq = audit.unkeyedThroughSeq
        configuration.refunds = refunds
        configuration.settlement = settlement
        configuration.contractSecrets = contractSecrets
        configuration.trustedProxies = trustedProxies ?? .none
        configuration.durableStorage = durable
        configuration.postgres = postgres
        configuration.x402 = readX402(top["x402"], &r)
        if !configuration.x402.v1 {
            for index in configuration.routes.indices { configuration.routes[index].rails = [ExactEVMRail.v2Name] }
        }
        if configuration.x402.discovery, configuration.mcp == nil,
           let shadowing = configuration.routes.firstIndex(where: { $0.path.matches(ExactEVMRail.discoveryPath[...]) }) {
            r.warn(top["routes"], "routes[\(shadowing)].path", "\(ExactEVMRail.discoveryPath) is answered by the gateway's discovery manifest, "
                + "before this route (set x402.discovery: false to route it)")
        }
        if !configuration.x402.v1, case .sequence(let items)? = top["routes"] {
            for (index, item) in items.enumerated() where item.mapping?["x402_v1"]?.bool == true {
                r.fail(item.mapping?["x402_v1"], "routes[\(index)].x402_v1", "x402.v1 is false for the whole gateway: no route takes x402 v1")
            }
        }
        if limits.sharedInvalid, postgres == nil {
            r.fail(top["limits"], "limits.shared_invalid", "needs storage.postgres: only instances sharing a PostgreSQL store can share a budget")
        }
        if var mcp {
            mcp.tools = routes.map { String($0.path.description.dropFirst()) }
            configuration.mcp = mcp
            configuration.publicURL = MCPConfiguration.resourceBase
            // What `design`, `check` and the logs name as the protected upstream.
            switch mcp.upstream {
            case .http(let url): configuration.upstreamURL = url
            case .command(let command): configuration.upstreamURL = "stdio: " + command.joined(separator: " ")
            case nil: configuration.upstreamURL = "in process"
            }
            configuration.upstreamTimeoutSeconds = mcp.timeoutSeconds
            configuration.maxUpstreamResponseBytes = mcp.maxResponseBytes
        }
        warnOfAShortGrace(configuration, storage: top["storage"], &r)
        warnOfRoutesTheirCaseRefuses(configuration, routes: top["routes"], &r)
        let source = GatewayConfiguration.Source(lines: r.lines, environmentReferences: r.environmentReferences)
        configuration.source = source
        // An unstated max_timeout_seconds fits this file's own timeouts: at least 60 s, and long enough for the
        // slowest paid request to settle (TimingBudget). A stated one is the operator's choice, checked by lint TG118.
        for index in configuration.routes.indices where !source.explicitKeys(route: index).contains("max_timeout_seconds") {
            guard let pricing = configuration.routes[index].pricing else { continue }
            let worstCase = TimingBudget(configuration.routes[index], pricing: pricing, configuration: configuration).worstCaseSeconds
            configuration.routes[index].pricing?.maxTimeoutSeconds = min(3600, max(60, (worstCase + 9) / 10 * 10))
        }
        return configuration
    }

    /// `secrets` (required) or `contract_secrets` (optional: the upstream contract's own keys), a list of `{id, env | file}`.
    static func readSecrets(_ node: Node?, root: Node, key: String = "secrets", _ r: inout YAMLReader) -> [GatewayConfiguration.SecretSource] {
        guard let node else {
            if key == "secrets" { r.fail(root, "secrets", "is required: a list of {id, env | file} naming the HMAC key for offers") }
            return []
        }
        var result: [GatewayConfiguration.SecretSource] = []
        for (index, item) in (r.sequence(node, key) ?? []).enumerated() {
            let path = "\(key)[\(index)]"
            guard let fields = r.mapping(item, path, known: ["id", "env", "file", "value"]) else { continue }
            let id = r.string(fields["id"], "\(path).id", required: true, parent: item) ?? ""
            if !SecretKey.isValidId(id) {
                r.fail(fields["id"] ?? item, "\(path).id", "needs a short id of printable ASCII without dots or spaces")
            }
            if fields["value"] != nil {
                r.fail(fields["value"], "\(path).value", "secrets are never written inline; use env: VARIABLE or file: PATH")
            }
            let env = r.string(fields["env"], "\(path).env")
            let file = r.string(fields["file"], "\(path).file")
            switch (env, file) {
            case (let env?, nil): result.append(.init(id: id, origin: .environment(env)))
            case (nil, let file?): result.append(.init(id: id, origin: .file(file)))
            default: r.fail(item, path, "needs exactly one of env or file")
            }
        }
        if result.isEmpty && r.issues.allSatisfy({ !$0.path.hasPrefix(key) }) { r.fail(node, key, "needs at least one key") }
        if Set(result.map(\.id)).count != result.count { r.fail(node, key, "ids must be unique") }
        return result
    }

    static func readAssets(_ node: Node?, _ r: inout YAMLReader) -> [Asset] {
        var result: [Asset] = []
        for (index, item) in (r.sequence(node, "assets") ?? []).enumerated() {
            let path = "assets[\(index)]"
            guard let fields = r.mapping(item, path, known: ["id", "network", "address", "decimals", "eip712_name", "eip712_version"]) else { continue }
            let id = r.string(fields["id"], "\(path).id", required: true, parent: item) ?? ""
            let network = r.string(fields["network"], "\(path).network", required: true, parent: item) ?? ""
            if !network.isEmpty && !isCAIP2(network) { r.fail(fields["network"], "\(path).network", "expected a CAIP-2 id like eip155:84532") }
            let address = r.string(fields["address"], "\(path).address", required: true, parent: item) ?? ""
            if !address.isEmpty && !isAddress(address) { r.fail(fields["address"], "\(path).address", "expected a 0x-prefixed 20-byte hex address") }
            let decimals = r.int(fields["decimals"], "\(path).decimals", range: 0...36) ?? 6
            let name = r.string(fields["eip712_name"], "\(path).eip712_name", required: true, parent: item) ?? ""
            let version = r.string(fields["eip712_version"], "\(path).eip712_version", required: true, parent: item) ?? ""
            if result.contains(where: { $0.id == id }) { r.fail(fields["id"], "\(path).id", "\(id) is defined twice") }
            result.append(Asset(id: id, network: network, address: address, decimals: decimals, eip712Name: name, eip712Version: version))
        }
        return result
    }

    static func readClients(_ node: Node?, _ r: inout YAMLReader) -> [ClientRecord] {
        var result: [ClientRecord] = []
        for (index, item) in (r.sequence(node, "clients") ?? []).enumerated() {
            let path = "clients[\(index)]"
            guard let fields = r.mapping(item, path, known: ["id", "api_key_sha256", "scopes", "api_key", "organisation"]) else { continue }
            let id = r.string(fields["id"], "\(path).id", required: true, parent: item) ?? ""
            if let problem = ClientRecord.reservedNameProblem(id) { r.fail(fields["id"], "\(path).id", "is reserved: \(problem)") }
            if id == "anonymous" { r.fail(fields["id"], "\(path).id", "anonymous is reserved for callers without a key") }
            if fields["api_key"] != nil {
                r.fail(fields["api_key"], "\(path).api_key", "API keys are never stored in clear; put its SHA-256 in api_key_sha256 (tollgate hash-key)")
            }
            let hashText = r.string(fields["api_key_sha256"], "\(path).api_key_sha256", required: true, parent: item) ?? ""
            let hash = HexString.decode(hashText)
            if hash?.count != 32 { r.fail(fields["api_key_sha256"] ?? item, "\(path).api_key_sha256", "expected 64 hex digits (SHA-256 of the key)") }
            let scopes = r.strings(fields["scopes"], "\(path).scopes") ?? []
            if result.contains(where: { $0.id == id }) { r.fail(fields["id"], "\(path).id", "\(id) is defined twice") }
            if let hash, result.contains(where: { $0.apiKeySHA256 == hash }) { r.fail(fields["api_key_sha256"], "\(path).api_key_sha256", "two clients share one key") }
            result.append(ClientRecord(id: id, apiKeySHA256: hash ?? [], scopes: Set(scopes),
                                       organisation: r.string(fields["organisation"], "\(path).organisation")))
        }
        return result
    }

    /// An http(s) URL with a host: what `upstream.url` and `facilitators[].url` accept.
    public static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host != nil else { return false }
        return scheme == "http" || scheme == "https"
    }

    static func isAddress(_ text: String) -> Bool { EthereumAddress(text) != nil }

    static func isCAIP2(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    static func isEnvironmentReference(_ text: String) -> Bool { text.hasPrefix("${") && text.hasSuffix("}") }
}
