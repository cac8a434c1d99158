"""Fine-tuning the captioner with Lightning: data, augmentation, batches, curriculum, module, recipe, stages."""
