"""torch ``nn.Module`` implementations used by the model plugins (imported only when a model is built)."""
