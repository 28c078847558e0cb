"""medigan plugin: a class-conditional DCGAN (TensorFlow/Keras) for DAB-positive or DAB-negative IHC histology patches.

``plugin`` registers the model (no TensorFlow import), ``generator`` loads and runs it, ``stain`` measures DAB.
"""
