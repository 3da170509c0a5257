"""Config overrides for the tiny pretraining runs tests build (64 px, a few-thousand-parameter model)."""

TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8",
    "data.batch_size=8", "trainer.max_epochs=1",
]
