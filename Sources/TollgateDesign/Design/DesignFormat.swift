/// The renderings of a `DesignReport`.
public enum DesignFormat: String, Sendable, Hashable, CaseIterable {
    case markdown
    case json
    case html

    public func render(_ report: DesignReport) -> String {
        switch self {
        case .markdown: MarkdownRenderer.render(report)
        case .json: JSONRenderer.render(report)
        case .html: HTMLRenderer.render(report)
        }
    }
}
