"""Camera simulator: synthetic bay-camera scenes (VIN plates, door-jamb stickers, QR,
Code 128/39, DataMatrix and EAN labels) under rotation, tilt, blur, noise, glare and low
light; served as an iterator of frames, a labelled image set, or an MJPEG HTTP stream.

It imports nothing of Baygate's: codes are drawn with zxing-cpp's writer, text with
DejaVu TrueType faces (Pillow; VIN plates) or OpenCV's Hershey font (fonts.py), and the
VIN check digit is computed here independently.
"""
