"""facedata: audit face-photo submissions, build a training set, train and measure a GAN."""

__version__ = "0.1.0"
