"""What the platform serves: numbered, immutable serving-configuration versions and the pointer
to the current one (models and categories shown in the UI, routing, prompt templates, reasoning
strategies)."""
