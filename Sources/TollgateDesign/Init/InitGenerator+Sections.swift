import TollgateConfiguration
import TollgateCore

extension InitGenerator {
    func writeHeader(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.comment("Tollgate configuration written by `tollgate init` (docs/init.md).",
                  "Every key is explained in docs/configuration.md. Validate it with `tollgate check -c FILE`,",
                  "review the design with `tollgate design -c FILE`, run it with `tollgate serve -c FILE`.",
                  "",
                  "Protected: \(plan.resource) at \(plan.upstream): \(plan.description)",
                  "Callers:   \(plan.callers.map(\.rawValue).joined(separator: ", ")) (identity: \(InitSummary.identities(plan)))",
                  "Billed:    \(InitSummary.price(plan))",
                  "Secrets are never written here: set \(plan.environment.joined(separator: " and ")) before `tollgate serve`.")
    }

    func writeGateway(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.blank()
        w.comment("The gateway's address, and the URL clients reach it by (`resource.url` in the 402 terms);",
                  "set public_url when a load balancer or TLS terminator sits in front.")
        w.scalar("listen", plan.listen)
        w.scalar("public_url", plan.publicURL)
        w.comment("Requests that match no route are refused with 404 no_route (fail closed).")
        w.raw("unmatched", "deny")
        w.blank()
        w.comment("1. What is protected: the upstream API. A timeout is a 502 and nothing is settled.")
        w.open("upstream")
        w.scalar("url", plan.upstream, indent: 2)
        let timeouts = plan.timeouts
        if timeouts.lowered {
            w.comment("\(timeouts.upstreamSeconds) s, not the usual \(InitTimeouts.upstreamSeconds) s, and \(timeouts.facilitatorSeconds) s per facilitator "
                      + "call, not \(InitTimeouts.facilitatorSeconds) s: with \(plan.facilitators.count) facilitators",
                      "in failover the usual timeouts would need authorizations valid over \(ConfigurationLint.maxTimeoutThresholdSeconds) s "
                      + "(lint TG109, TG118).", indent: 2)
        }
        w.raw("timeout_seconds", String(timeouts.upstreamSeconds), indent: 2)
        w.blank()
        w.comment("HMAC keys that sign offers and the headers sent to the upstream (Tollgate-Signature). The",
                  "secret itself lives in the environment: export \(plan.secretEnv)=$(openssl rand -hex 32).",
                  "To rotate, add the new key first and keep the old one until its offers have expired.")
        w.open("secrets")
        w.item("id", "k1", indent: 2)
        w.scalar("env", plan.secretEnv, indent: 4)
        w.blank()
        w.comment("Proof reservations, the payments ledger and the hash-chained audit log (SQLite, WAL).")
        w.open("storage")
        w.scalar("sqlite", plan.sqlite, indent: 2)
    }

    func writeIdentity(_ plan: InitPlan, keys: [GeneratedKey], _ w: inout InitYAMLWriter) {
        if !plan.clients.isEmpty {
            w.blank()
            w.comment("2. Who calls: API clients (scripts, integrations). They send `X-Api-Key: KEY`; only the key's",
                      "SHA-256 is stored (`tollgate hash-key KEY`). `tollgate init` printed each key once.")
            w.open("clients")
            for (client, key) in zip(plan.clients, keys) {
                w.item("id", client.id, indent: 2)
                w.raw("api_key_sha256", APIKeyHash.sha256Hex(key.key), indent: 4)
                w.raw("scopes", InitYAMLWriter.flowList(client.scopes), indent: 4)
                if let organisation = client.organisation { w.scalar("organisation", organisation, indent: 4) }
            }
        }
        if let jwt = plan.jwt {
            w.blank()
            w.comment("2. Humans: bearer JWTs from your identity provider. Signature, exp, nbf, iss and aud are checked;",
                      "`sub` is the client id, `scope` its scopes, `org` its organisation.")
            w.open("jwt")
            w.scalar("issuer", jwt.issuer, indent: 2)
            w.scalar("audience", jwt.audience, indent: 2)
            w.scalar("jwks_file", jwt.jwksFile, indent: 2)
        }
    }

    func writeAssets(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        let asset = plan.asset
        w.blank()
        w.comment("3. What payers pay in: \(plan.network == .custom ? "\(asset.id) on \(asset.network)" : plan.network.label).",
                  "eip712_name / eip712_version are the token's EIP-712 domain: a wrong name makes every signature fail.")
        w.open("assets")
        w.item("id", asset.id, indent: 2)
        w.scalar("network", asset.network, indent: 4)
        w.raw("address", InitYAMLWriter.quoted(asset.address), indent: 4)
        w.raw("decimals", String(asset.decimals), indent: 4)
        w.scalar("eip712_name", asset.eip712Name, indent: 4)
        w.raw("eip712_version", InitYAMLWriter.quoted(asset.eip712Version), indent: 4)
        w.comment("Where payments go.")
        w.raw("pay_to", InitYAMLWriter.quoted(plan.payTo))
    }

    func writeRoutes(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.blank()
        w.comment("1.-4. The routes, in order; the first match wins. Authorization comes before any price: a caller",
                  "without the right identity or scope gets 401/403, never a 402.")
        w.open("routes")
        for path in plan.paths {
            w.comment("\(plan.method == "*" ? "Any method" : plan.method) \(path): \(InitSummary.price(plan, withNetwork: false)).", indent: 2)
            w.item("method", plan.method, indent: 2)
            writeRoute(plan, path: path, &w)
        }
    }

    private func writeRoute(_ plan: InitPlan, path: String, _ w: inout InitYAMLWriter) {
        let i = 4
        w.scalar("path", path, indent: i)
        w.scalar("resource", plan.resource, indent: i)
        w.scalar("description", plan.description, indent: i)
        w.scalar("mime_type", plan.mimeType, indent: i)
        w.raw("price", InitYAMLWriter.quoted(plan.routePrice), indent: i, comment: priceComment(plan))
        w.raw("accepts", InitYAMLWriter.flowList([plan.asset.id]), indent: i)
        w.raw("unit", plan.unit.configurationUnit, indent: i, comment: unitComment(plan))
        if let quantity = plan.quantity {
            var pairs: [(String, String)] = switch quantity.source {
            case .query(let name): [("query", InitYAMLWriter.scalar(name, flow: true))]
            case .body(let path): [("body", InitYAMLWriter.scalar(path, flow: true))]
            }
            pairs.append(("max", String(quantity.max)))
            if let value = quantity.default { pairs.append(("default", String(value))) }
            w.raw("quantity", InitYAMLWriter.flowMap(pairs), indent: i, comment: "units come from the request; the 402 quotes price x quantity")
        }
        switch plan.records {
        case .header(let name)?:
            w.raw("measure", InitYAMLWriter.flowMap("header", name), indent: i, comment: "the upstream reports the records it delivered")
        case .jsonArray(let path)?:
            w.raw("measure", InitYAMLWriter.flowMap("json_array", path), indent: i, comment: "records = the length of this JSON array in the answer")
        case nil: break
        }
        if let header = plan.workSecondsHeader {
            w.raw("measure", InitYAMLWriter.flowMap("header", header), indent: i, comment: "the upstream reports the seconds it worked")
        }
        if let size = plan.packageSize {
            w.raw("package", InitYAMLWriter.flowMap([("units", String(size)), ("name", InitYAMLWriter.scalar(plan.resource, flow: true))]),
                  indent: i, comment: "one payment buys \(size) requests for the paying client")
        }
        w.raw("consumed", "on_success", indent: i, comment: "a unit counts once the upstream answers below 400: errors are not charged")
        if plan.settle == "before" {
            w.raw("settle", "before", indent: i, comment: "settled before forwarding (work that cannot be undone); see refunds")
        }
        let budget = plan.timeouts.budget
        w.comment("Authorizations outlive the slowest paid request, \(budget.worstCaseSeconds) s (\(budget.worstCaseTerms); lint TG118).", indent: i)
        w.raw("max_timeout_seconds", String(budget.maxTimeoutSeconds), indent: i)
        if let scope = plan.scope {
            w.scalar("scope", scope, indent: i)
        }
        w.raw("anonymous", plan.anonymous ? "true" : "false", indent: i,
              comment: plan.anonymous ? "x402 payers without an account may pay" : "an API key or a JWT is required (401 without)")
        if !plan.actionScopes.isEmpty {
            w.comment("Actions that need their own scope besides the route's (403 missing_scope, never a 402).", indent: i)
            w.open("action_scopes", indent: i)
            for action in plan.actionScopes {
                w.raw(InitYAMLWriter.scalar(action.action), InitYAMLWriter.scalar(action.scope), indent: i + 2)
            }
        }
        if let rule = plan.privateFields {
            w.comment("Removed from the answer unless the client holds \(rule.scope) (audited at stage decide).", indent: i)
            w.raw("private_fields", InitYAMLWriter.flowMap([("scope", InitYAMLWriter.scalar(rule.scope, flow: true)),
                                                            ("fields", InitYAMLWriter.flowList(rule.fields))]), indent: i)
        }
    }

    private func priceComment(_ plan: InitPlan) -> String {
        if plan.unit == .minute { return "per second: \(plan.price) per minute / 60" }
        if plan.quantity != nil { return "per \(plan.unit.noun)" }
        if plan.unit == .package { return "per package of \(plan.packageSize ?? 0)" }
        switch plan.unit {
        case .file: return "per file"
        case .request: return "per request"
        default: return "per payment"
        }
    }

    private func unitComment(_ plan: InitPlan) -> String {
        switch plan.unit {
        case .request: "usage counted per request"
        case .record: "usage counted in records delivered"
        case .file: "one file per payment; usage counted in bytes delivered"
        case .second, .minute: "usage counted in seconds of work"
        case .package: "requests spent from a prepaid package"
        }
    }
}
