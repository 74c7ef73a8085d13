"""Channel adapters behind one interface (:class:`channels.base.ChannelAdapter`)."""
