import TollgateConfiguration
import TollgateCore
import TollgateX402

/// Decisions about running the gateway: operations, facilitators, networks, exposure, storage.
extension DecisionDerivation {
    func adminListener() -> OpenDecision? {
        guard configuration.admin == nil else {
            guard let admin = report.storage.admin, !admin.loopback else { return nil }
            return OpenDecision(id: "admin_listener", title: "Admin API reachable remotely",
                                question: "What protects an API that can lift revocations and close every paid route?",
                                facts: ["admin listens on \(admin.listen) (allow_remote)"],
                                options: ["TLS and a firewall in front", "loopback only, operators on the host"])
        }
        return OpenDecision(id: "admin_listener", title: "No admin listener",
                            question: "Who revokes a client or payer, or stops payments in an incident, while the gateway is serving?",
                            facts: ["no admin: section: revocations and incident switches cannot be made at runtime",
                                    "refunds only with tollgate refund on the host (direct store access)",
                                    "payers.deny changes need a restart"],
                            options: ["add admin: {listen: 127.0.0.1:8405, token: {env: …}}", "accept CLI-only operations and restarts"])
    }

    func facilitatorFailover() -> OpenDecision? {
        let single = report.networks.filter { !$0.failover }.map(\.network)
        guard !single.isEmpty else { return nil }
        return OpenDecision(id: "facilitator_failover", title: "One facilitator per network",
                            question: "Is a facilitator outage allowed to close paid routes (503 with Retry-After) until it recovers?",
                            facts: single.map { network in
                                "\(network): \(report.networks.first { $0.network == network }?.facilitators.map(\.url).joined(separator: ", ") ?? "") only"
                            },
                            options: ["add a second facilitator for the network (tried in order)", "accept closed paid routes during outages"])
    }

    func developmentFacilitator() -> OpenDecision? {
        let local = configuration.facilitators.filter { NetworkAddress.isLoopback(url: $0.url) }.map(\.url)
        guard !local.isEmpty else { return nil }
        return OpenDecision(id: "development_facilitator", title: "Facilitator on loopback",
                            question: "Which facilitator settles real payments in production?",
                            facts: ["on this machine: \(local.joined(separator: ", ")) (the development facilitator, typically: test networks only)"],
                            options: ["a hosted x402 facilitator with its credentials in headers (${ENV})", "run a facilitator you operate, with its own monitoring"])
    }

    func testNetworks() -> OpenDecision? {
        let test = report.networks.filter(\.testnet).map(\.network)
        guard !test.isEmpty else { return nil }
        return OpenDecision(id: "test_networks", title: "Test networks only",
                            question: "When and how does the gateway move to a main network, with which asset and payee?",
                            facts: ["test networks accepted: \(test.joined(separator: ", ")): no real money moves"],
                            options: ["a mainnet asset (e.g. USDC on eip155:8453, EIP-712 USD Coin/2) and a payee the business controls",
                                      "keep test networks for a staging gateway"])
    }

    func publicURL() -> OpenDecision? {
        guard !report.gateway.publicURLUsesTLS else { return nil }
        return OpenDecision(id: "public_url_tls", title: "public_url is plain http",
                            question: "Where is TLS terminated for callers who send API keys and signed payments?",
                            facts: ["public_url \(configuration.publicURL) becomes resource.url in every 402"],
                            options: ["https public_url behind a TLS terminator", "loopback-only development"])
    }

    func proxyAddresses() -> OpenDecision? {
        guard let host = NetworkAddress.host(of: configuration.publicURL), host != configuration.listen.host else { return nil }
        let prefix = configuration.limits.ipv4PrefixBits
        return OpenDecision(id: "proxy_addresses", title: "A proxy in front shares one IP bucket",
                            question: "If a load balancer or TLS terminator forwards to the gateway, is every caller meant to share its address's budget?",
                            facts: ["public_url host \(host) differs from listen \(configuration.listen)",
                                    "limits count the peer address (IP prefix /\(prefix)), not X-Forwarded-For; identified callers are counted per client and per IP prefix",
                                    "behind a proxy the IP-prefix budget becomes one budget for all callers: unpaid \(ClassLimitsDesign(globalLimits: configuration.limits).text("unpaid")), paid \(ClassLimitsDesign(globalLimits: configuration.limits).text("paid")) in total"],
                            options: ["expose the gateway's listener directly to callers", "size the limits for the proxy's single address",
                                      "identify callers (API keys, JWTs) and accept the shared IP budget as a gateway-wide ceiling"])
    }

    func idempotency() -> OpenDecision? {
        let window = configuration.idempotencyWindowSeconds
        let authorization = paidRoutes.compactMap(\.pricing?.maxTimeoutSeconds).max() ?? 0
        var facts = ["idempotency_window_seconds \(window): a delivered paid answer (≤ 1 MiB) is kept that long for the same client's retry"]
        if window == 0 {
            facts.append("0: a client whose answer was lost can never get it back without paying again")
        } else if window > authorization {
            facts.append("a retry must still carry a valid authorization (maxTimeoutSeconds ≤ \(authorization) s, refused under 6 s left): the effective window is \(max(0, authorization - 6)) s")
        }
        return OpenDecision(id: "idempotency_window", title: "Idempotent retries",
                            question: "How long may a client that lost a paid answer fetch it again without paying twice, and how much response storage is that?",
                            facts: facts, options: ["keep the window ≥ maxTimeoutSeconds", "use the payment-identifier extension for anonymous clients"])
    }

    func auditRetention() -> OpenDecision? {
        guard configuration.auditRetention == nil else { return nil }
        return OpenDecision(id: "audit_retention", title: "No audit retention",
                            question: "How long must the audit trail stay live for disputes, and where does older evidence go?",
                            facts: ["no audit.retention_days: every event is kept in \(configuration.sqlitePath) forever",
                                    "unpaid-path events (every 402, 401, 429) grow with traffic, not revenue"],
                            options: ["audit: {retention_days: N, archive_dir: …} with N ≥ the dispute window", "keep everything and size the disk"])
    }

    func unmatchedPass() -> OpenDecision? {
        guard configuration.unmatched == .passThrough else { return nil }
        return OpenDecision(id: "unmatched_pass", title: "Unmatched requests are forwarded free",
                            question: "Is every upstream path outside the routes meant to be public and free?",
                            facts: ["unmatched: pass: no identity, no price, no audit for paths no route matches"],
                            options: ["unmatched: deny (404 no_route) and a free route per public path", "keep pass for a public API with a few paid paths"])
    }

    func secretRotation() -> OpenDecision? {
        guard configuration.secrets.count == 1, let key = configuration.secrets.first else { return nil }
        let validity = paidRoutes.compactMap(\.pricing?.offerValiditySeconds).max() ?? 0
        return OpenDecision(id: "secret_rotation", title: "One HMAC key",
                            question: "Who rotates the offer and contract key, and how does the upstream learn the new one?",
                            facts: ["secrets: \(key.id) only; rotation = add the new key first, keep \(key.id) for \(validity) s (the longest offer validity)",
                                    "the upstream verifies Tollgate-Signature with the same key"],
                            options: ["a rotation runbook and schedule", "keep one key and rotate on incident only"])
    }

    func upstreamContract() -> OpenDecision? {
        guard !NetworkAddress.isLoopback(url: configuration.upstreamURL) else { return nil }
        return OpenDecision(id: "upstream_contract", title: "Upstream reachable around the gateway",
                            question: "Does the upstream refuse requests without a valid Tollgate-Signature, or is it unreachable except through the gateway?",
                            facts: ["upstream \(HTTPOrigin.shown(configuration.upstreamURL)) is not on loopback"],
                            options: ["verify Tollgate-Signature in the upstream", "network policy: only the gateway reaches the upstream"])
    }

    func singleInstance() -> OpenDecision? {
        OpenDecision(id: "single_instance", title: "One gateway instance on SQLite",
                     question: "Is one instance enough for availability and load?",
                     facts: ["storage.sqlite \(configuration.sqlitePath): reservations, caps and audit live in one file, for one instance",
                             "rate-limit tables and the invalid-proof cache are in memory, per instance"],
                     options: ["one instance with a restart policy and backups of the SQLite file", "several instances on a shared store (PostgreSQL) when it is configurable"])
    }
}
