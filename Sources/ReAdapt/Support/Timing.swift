extension Duration {
    /// The duration in seconds, as a Double (for tokens/s figures).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
