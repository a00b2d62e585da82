/// The flow of one request as inline SVG: the common steps down the middle, the branch to the 402
/// on the left with the client's signed retry looping back, the paid path down the middle, and
/// panels on the right (identity, limits, stores, facilitators, settlement) tied to their steps.
/// Laid out from the report's active steps; every label is escaped.
public enum FlowDiagramSVG {
    static let width = 1000
    static let leftX = 20, laneWidth = 290
    static let centerX = 350, centerWidth = 300
    static let panelX = 690, panelWidth = 290
    static let gap = 24

    public static func render(_ report: DesignReport) -> String {
        var shapes: [String] = []
        var boxes: [String: SVGBox] = [:]
        let steps = report.flow.filter(\.active)

        let client = SVGBox(x: centerX, y: 10, width: centerWidth, title: "client",
                            body: ["request to \(report.gateway.publicURL)"], style: "owner-client")
        shapes.append(client.svg())
        var previous = client
        for step in steps where step.lane == .common {
            let box = stepBox(step, x: centerX, y: previous.bottom + gap, width: centerWidth)
            shapes.append(arrow(from: (previous.centerX, previous.bottom), to: (box.centerX, box.y)))
            shapes.append(box.svg())
            boxes[step.id] = box
            previous = box
        }
        let branchTop = previous.bottom + 56
        var bottom = previous.bottom
        let unpaid = steps.filter { $0.lane == .noProof }, paid = steps.filter { $0.lane == .proof }
        if !paid.isEmpty {
            let fork = previous
            // No proof: to the left lane.
            var last: SVGBox?
            for step in unpaid {
                let y = last.map { $0.bottom + gap } ?? branchTop
                let box = stepBox(step, x: leftX, y: y, width: laneWidth)
                if let last {
                    shapes.append(arrow(from: (last.centerX, last.bottom), to: (box.centerX, box.y)))
                } else {
                    let turn = fork.bottom + 18
                    shapes.append(path("M\(fork.centerX),\(fork.bottom) L\(fork.centerX),\(turn) L\(box.centerX),\(turn) L\(box.centerX),\(box.y)", dashed: false))
                    shapes.append(label("no \(report.gateway.proofCarrier)", x: box.centerX + 6, y: turn - 4))
                }
                shapes.append(box.svg())
                boxes[step.id] = box
                last = box
            }
            // Proof: straight down.
            var previousPaid: SVGBox?
            for step in paid {
                let y = previousPaid.map { $0.bottom + gap } ?? branchTop
                let box = stepBox(step, x: centerX, y: y, width: centerWidth)
                if let previousPaid {
                    shapes.append(arrow(from: (previousPaid.centerX, previousPaid.bottom), to: (box.centerX, box.y)))
                } else {
                    shapes.append(arrow(from: (fork.centerX, fork.bottom), to: (box.centerX, box.y)))
                    shapes.append(label("PAYMENT-SIGNATURE", x: box.centerX + 6, y: box.y - 6))
                }
                shapes.append(box.svg())
                boxes[step.id] = box
                previousPaid = box
            }
            // The client's signed retry loops back into the paid path.
            if let last, let first = paid.first.flatMap({ boxes[$0.id] }) {
                let down = last.bottom + 20, side = centerX - 16
                shapes.append(path("M\(last.centerX),\(last.bottom) L\(last.centerX),\(down) L\(side),\(down) L\(side),\(first.middleY) L\(centerX),\(first.middleY)", dashed: true))
                shapes.append(label("retry with PAYMENT-SIGNATURE", x: last.x + 4, y: down + 14))
                bottom = max(bottom, down + 20)
            }
            if let end = previousPaid {
                let answer = SVGBox(x: centerX, y: end.bottom + gap, width: centerWidth, title: "client",
                                    body: ["the answer, PAYMENT-RESPONSE receipt, Tollgate-Correlation-Id"], style: "owner-client")
                shapes.append(arrow(from: (end.centerX, end.bottom), to: (answer.centerX, answer.y)))
                shapes.append(answer.svg())
                bottom = max(bottom, answer.bottom)
            }
        } else {
            let upstream = SVGBox(x: centerX, y: previous.bottom + gap, width: centerWidth, title: "upstream",
                                  body: ["forwarded free to \(report.gateway.upstreamURL)"], style: "owner-upstream")
            shapes.append(arrow(from: (previous.centerX, previous.bottom), to: (upstream.centerX, upstream.y)))
            shapes.append(upstream.svg())
            bottom = upstream.bottom
        }

        var panelBottom = 0
        for (anchor, title, lines) in panels(report) {
            guard let step = boxes[anchor] else { continue }
            let panel = SVGBox(x: panelX, y: max(step.y, panelBottom + 16), width: panelWidth, title: title, body: lines, style: "panel")
            shapes.append(path("M\(step.right),\(step.middleY) L\(panelX),\(panel.y + 12)", dashed: true))
            shapes.append(panel.svg())
            panelBottom = panel.bottom
        }
        let height = max(bottom, panelBottom) + 20
        return """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(width) \(height)" width="\(width)" height="\(height)" role="img" aria-labelledby="flow-title">
        <title id="flow-title">\(MarkupEscaping.html("Flow of one request through \(report.source)"))</title>
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
        <style>
        rect.owner-gateway{fill:#e8f0fe;stroke:#3b6fd1}rect.owner-facilitator{fill:#fff4e0;stroke:#c77d00}
        rect.owner-upstream{fill:#e6f6ea;stroke:#2f8f46}rect.owner-operator{fill:#f3e8fd;stroke:#8a4fd1}
        rect.owner-client{fill:#eeeeee;stroke:#666666}rect.panel{fill:#ffffff;stroke:#999999;stroke-dasharray:4 3}
        text{font-family:ui-sans-serif,system-ui,sans-serif;font-size:11px;fill:#222}text.title{font-weight:bold;font-size:12px}
        text.refusal{fill:#b42318;font-size:10.5px}text.edge{fill:#555;font-size:10.5px;font-style:italic}
        path.edge{fill:none;stroke:#555;stroke-width:1.2}path.dashed{stroke-dasharray:5 4}
        </style>
        \(shapes.joined())</svg>
        """
    }

    static func stepBox(_ step: FlowStep, x: Int, y: Int, width: Int) -> SVGBox {
        SVGBox(x: x, y: y, width: width, title: "\(step.title) · \(step.owner.rawValue)", body: step.configuration,
               refusals: step.refusals, style: "owner-\(step.owner.rawValue)")
    }

    static func arrow(from: (Int, Int), to: (Int, Int)) -> String {
        "<path d=\"M\(from.0),\(from.1) L\(to.0),\(to.1)\" class=\"edge\" marker-end=\"url(#arrow)\"/>\n"
    }

    static func path(_ d: String, dashed: Bool) -> String {
        "<path d=\"\(d)\" class=\"edge\(dashed ? " dashed" : "")\" marker-end=\"url(#arrow)\"/>\n"
    }

    static func label(_ text: String, x: Int, y: Int) -> String {
        "<text x=\"\(x)\" y=\"\(y)\" class=\"edge\">\(MarkupEscaping.html(text))</text>\n"
    }

    /// Side panels: the step they hang from, a title, and lines from the report.
    static func panels(_ report: DesignReport) -> [(String, String, [String])] {
        var result: [(String, String, [String])] = []
        let identity = report.identity
        var who = ["kinds: \(identity.kinds.isEmpty ? "none" : identity.kinds.joined(separator: ", "))"]
        who += identity.clients.map { "client \($0.id): \($0.scopes.isEmpty ? "no scopes" : $0.scopes.joined(separator: ", "))" }
        if let jwt = identity.jwt { who.append("JWT issuer \(jwt.issuer), audience \(jwt.audience)") }
        result.append(("identify", "Identity", who))
        let limits = report.limits
        var rates = ["global: unpaid \(limits.global.text("unpaid")); paid \(limits.global.text("paid")); invalid \(limits.global.text("invalid"))"]
        rates += limits.routes.filter { $0.source == "route" }.map {
            "\($0.scope): unpaid \($0.text("unpaid")); paid \($0.text("paid")); invalid \($0.text("invalid"))"
        }
        rates += limits.gaps.map { "missing: \($0.scope) \($0.kind)" }
        result.append(("admit_invalid", "Rate limits", rates))
        let storage = report.storage
        var stores = ["SQLite \(storage.sqlitePath)", "audit flush \(storage.auditFlushMillis) ms",
                      storage.auditRetention.map { "audit retention \($0.days) d → \($0.archiveDirectory)" } ?? "audit kept forever",
                      "idempotency \(storage.idempotencyWindowSeconds) s"]
        stores.append(storage.admin.map { "admin \($0.listen)" } ?? "no admin listener")
        result.append(("reserve", "Stores", stores))
        let facilitators = report.networks.map { network in
            "\(network.network)\(network.testnet ? " (test)" : ""): "
                + network.facilitators.map { "\($0.url) \($0.timeoutSeconds) s" }.joined(separator: " → ")
                + (network.failover ? " (failover)" : " (no failover)")
        }
        result.append(("facilitator_verify", "Facilitators", facilitators))
        var settlement: [String] = []
        for settle in ["before", "after"] {
            let group = report.routes.filter { $0.pricing?.settle == settle }.map(\.resource)
            if !group.isEmpty { settlement.append("settle \(settle): \(group.joined(separator: ", "))") }
        }
        result.append((report.flow.contains { $0.id == "settle" && $0.active } ? "settle" : "settle_before", "Settlement", settlement))
        return result
    }
}
