"""PyTorch: the trainer's modules (the .xnet-to-nn.Module bridge comes from branch h-torch)."""
